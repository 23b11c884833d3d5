import type { AnalysisHeaders } from "../../contract/analysis/Analysis.ts"

/**
 * What a personal model sees of a message: a fixed-length vector of
 * hashed features (the "hashing trick": each named feature lands in one of
 * `HASH_BUCKETS` buckets with a sign, so the vector length does not grow
 * with the vocabulary) followed by the stored embedding when there is one.
 *
 * Named features: sender address and domain, the bulk-mail header signals
 * (List-*, Auto-Submitted, Precedence), subject words, and the base
 * analysis's own values. The same function builds the vectors for training
 * (from corrected mail) and for scoring (new mail), so they always agree.
 */

export const HASH_BUCKETS = 512
const SUBJECT_WORDS_MAX = 24

/** The provider's values for one message: the "base" the personal model learns to correct. */
export interface BaseValues {
  readonly urgency: number
  readonly importance: number
  readonly category: string
  readonly spam: boolean
  readonly tags: ReadonlyArray<string>
}

export interface FeatureSource {
  readonly fromAddress: string | null
  readonly subject: string | null
  readonly headers: AnalysisHeaders
  readonly base: BaseValues
  /** Unit-length vector of the configured embedding model, or null when the message has none (yet). */
  readonly embedding: ReadonlyArray<number> | null
  /** The model of `embedding` (vectors of different models are never mixed). */
  readonly embeddingModel: string | null
}

const lower = (value: string) => value.trim().toLowerCase()

/** Words of a subject: lower-cased runs of letters and digits, 3+ characters, "re"/"fwd" prefixes dropped. */
export const subjectWords = (subject: string): Array<string> => {
  const out: Array<string> = []
  let word = ""
  const flush = () => {
    if (word.length >= 3 && out.length < SUBJECT_WORDS_MAX && !out.includes(word)) out.push(word)
    word = ""
  }
  for (const char of subject.toLowerCase()) {
    // letters of any script and digits; everything else separates words (no regex on mail text)
    if (char.toUpperCase() !== char.toLowerCase() || (char >= "0" && char <= "9")) word += char
    else flush()
  }
  flush()
  return out
}

/** The named features of a message (before hashing), e.g. `from:news@shop.example`, `w:invoice`. */
export const featureNames = (source: FeatureSource): Array<string> => {
  const names: Array<string> = []
  const address = source.fromAddress === null ? "" : lower(source.fromAddress)
  if (address.length > 0) {
    names.push(`from:${address}`)
    const at = address.lastIndexOf("@")
    if (at >= 0 && at < address.length - 1) names.push(`domain:${address.slice(at + 1)}`)
  } else {
    names.push("from:none")
  }
  const h = source.headers
  if (h.listUnsubscribe !== undefined) names.push("hdr:list-unsubscribe")
  if (h.listId !== undefined) names.push("hdr:list-id", `list-id:${lower(h.listId).slice(0, 200)}`)
  if (h.autoSubmitted !== undefined && lower(h.autoSubmitted) !== "no") names.push("hdr:auto-submitted")
  if (h.precedence !== undefined) names.push(`precedence:${lower(h.precedence).slice(0, 40)}`)
  for (const word of subjectWords(source.subject ?? "")) names.push(`w:${word}`)
  names.push(
    `base-urgency:${source.base.urgency}`,
    `base-importance:${source.base.importance}`,
    `base-category:${source.base.category}`,
    `base-spam:${source.base.spam}`
  )
  for (const tag of source.base.tags) names.push(`base-tag:${tag}`)
  return names
}

/** 32-bit FNV-1a over the UTF-16 code units. */
export const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash >>> 0
}

/** Bucket and sign of a named feature. */
export const bucketOf = (name: string): { readonly index: number; readonly sign: 1 | -1 } => {
  const hash = fnv1a(name)
  return { index: hash % HASH_BUCKETS, sign: (hash & 0x8000_0000) === 0 ? 1 : -1 }
}

/**
 * The vector: `HASH_BUCKETS` hashed features, then `embeddingDimension`
 * embedding values (zeros when the message has no embedding of that length).
 */
export const featureVector = (source: FeatureSource, embeddingDimension: number): Float64Array => {
  const vector = new Float64Array(HASH_BUCKETS + embeddingDimension)
  for (const name of featureNames(source)) {
    const { index, sign } = bucketOf(name)
    vector[index] = (vector[index] ?? 0) + sign
  }
  const embedding = source.embedding
  if (embedding !== null && embedding.length === embeddingDimension) {
    for (let i = 0; i < embeddingDimension; i++) vector[HASH_BUCKETS + i] = embedding[i] ?? 0
  }
  return vector
}
