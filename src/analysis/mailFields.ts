import type { AnalysisHeaders } from "../contract/analysis/Analysis.ts"

/**
 * Readers for the JSON columns the sync writes (`emails.to_addresses`,
 * `emails.headers`). They accept what is there and skip what is not: a
 * malformed entry is dropped rather than failing the whole message.
 */

export interface StoredAddress {
  readonly name: string | null
  readonly address: string | null
}

const stringOrNull = (value: unknown): string | null => (typeof value === "string" && value.length > 0 ? value : null)

const property = (value: object, key: string): unknown => Object.getOwnPropertyDescriptor(value, key)?.value

/** `[{name, address}]` (mailparser style); entries that are not objects are skipped. Capped at `max`. */
export const addressesOf = (value: unknown, max = 100): Array<StoredAddress> => {
  if (!Array.isArray(value)) return []
  const out: Array<StoredAddress> = []
  for (const entry of value) {
    if (out.length >= max) break
    if (typeof entry === "string") {
      out.push({ name: null, address: stringOrNull(entry) })
      continue
    }
    if (typeof entry !== "object" || entry === null) continue
    const address = stringOrNull(property(entry, "address"))
    const name = stringOrNull(property(entry, "name"))
    if (address === null && name === null) continue
    out.push({ name, address })
  }
  return out
}

const headerKeys: ReadonlyArray<readonly [keyof AnalysisHeaders, ReadonlyArray<string>]> = [
  ["listUnsubscribe", ["listUnsubscribe", "list-unsubscribe"]],
  ["listId", ["listId", "list-id"]],
  ["autoSubmitted", ["autoSubmitted", "auto-submitted"]],
  ["precedence", ["precedence"]],
  ["xMailer", ["xMailer", "x-mailer"]]
]

/** The headers the analysis looks at, from the stored headers object (camelCase or header-name keys). */
export const analysisHeadersOf = (value: unknown): AnalysisHeaders => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {}
  const out: { -readonly [K in keyof AnalysisHeaders]: AnalysisHeaders[K] } = {}
  for (const [field, keys] of headerKeys) {
    for (const key of keys) {
      const found = stringOrNull(property(value, key))
      if (found !== null) {
        out[field] = found.slice(0, 2_048)
        break
      }
    }
  }
  return out
}
