import { createHash } from "node:crypto"

/**
 * Rendezvous (highest random weight) hashing: each account goes to the worker whose hash of
 * (worker, account) is highest. Every worker computes the same answer from the same live set, and
 * a worker joining or leaving moves only the accounts it wins or held (about 1/n of them).
 */
const weight = (worker: string, account: string): bigint =>
  createHash("sha256").update(worker).update("\u0000").update(account).digest().readBigUInt64BE(0)

/** The worker an account belongs to, or undefined when no worker is live. */
export const ownerOf = (account: string, workers: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestWeight = -1n
  for (const worker of workers) {
    const w = weight(worker, account)
    // ties (practically impossible with 64 bits) go to the smaller id, so every worker agrees
    if (w > bestWeight || (w === bestWeight && best !== undefined && worker < best)) {
      best = worker
      bestWeight = w
    }
  }
  return best
}
