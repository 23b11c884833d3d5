/**
 * Redis stream entry ids (`<milliseconds>-<sequence>`): the SSE message ids and `Last-Event-ID`.
 * Compared as numbers, never as strings ("9-0" < "10-0").
 */

/** What a well-formed id looks like (the API refuses anything else with 400). */
export const streamIdPattern = /^\d{1,15}-\d{1,15}$/

const parts = (id: string): readonly [bigint, bigint] => {
  const dash = id.indexOf("-")
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))]
}

/** Negative when a < b, zero when equal, positive when a > b. Both must match streamIdPattern. */
export const compareStreamIds = (a: string, b: string): number => {
  const [aMillis, aSeq] = parts(a)
  const [bMillis, bSeq] = parts(b)
  if (aMillis !== bMillis) return aMillis < bMillis ? -1 : 1
  if (aSeq !== bSeq) return aSeq < bSeq ? -1 : 1
  return 0
}
