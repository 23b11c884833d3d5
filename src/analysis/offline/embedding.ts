import { englishStopwords, germanStopwords } from "./language.ts"
import { normalizedWords } from "./text.ts"

/**
 * Hashing-based text embeddings ("feature hashing"): word unigrams and
 * bigrams of the normalised, stopword-free, lightly stemmed text are hashed
 * into `dimension` buckets with a hash-derived sign, weighted by sublinear
 * term frequency and L2-normalised. Texts that share words end up close
 * (cosine), unrelated texts near 0. Deterministic, no model, no network.
 * An empty text gives the zero vector.
 */

export const DEFAULT_DIMENSION = 384
export const OFFLINE_EMBEDDING_MODEL = "offline-hash-v1"

export const offlineEmbeddingModelName = (dimension: number): string => `${OFFLINE_EMBEDDING_MODEL}-${dimension}`

const PLURAL_SUFFIXES = ["es", "en", "s", "n", "e"]
const VERB_SUFFIXES = ["ing", "ed", "er", "ly"]

/** Light stemming for German and English: one plural/inflection suffix, then one verb suffix. */
export const stem = (word: string): string => {
  let w = word
  for (const s of PLURAL_SUFFIXES) {
    if (w.length - s.length >= 4 && w.endsWith(s) && !w.endsWith("ss")) {
      w = w.slice(0, w.length - s.length)
      break
    }
  }
  for (const s of VERB_SUFFIXES) {
    if (w.length - s.length >= 4 && w.endsWith(s)) {
      w = w.slice(0, w.length - s.length)
      break
    }
  }
  return w
}

/** FNV-1a, 32 bit */
const fnv1a = (s: string, seed: number): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** murmur3 finaliser: spreads the bits of a 32-bit hash */
const fmix32 = (x: number): number => {
  let h = x
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const featureWords = (text: string, maxChars: number): Array<string> => {
  const out: Array<string> = []
  for (const w of normalizedWords(text, maxChars)) {
    if (w.length < 2 || germanStopwords.has(w) || englishStopwords.has(w)) continue
    out.push(stem(w))
  }
  return out
}

const BIGRAM_WEIGHT = 0.5

export const embedText = (text: string, dimension: number = DEFAULT_DIMENSION, maxChars = 20_000): Array<number> => {
  const words = featureWords(text, maxChars)
  const counts = new Map<string, number>()
  for (let i = 0; i < words.length; i++) {
    const w = words[i] ?? ""
    counts.set(w, (counts.get(w) ?? 0) + 1)
    const next = words[i + 1]
    if (next !== undefined) {
      const bigram = `${w}\u0001${next}`
      counts.set(bigram, (counts.get(bigram) ?? 0) + 1)
    }
  }
  const v = new Float64Array(dimension)
  for (const [feature, count] of counts) {
    const h = fnv1a(feature, 0)
    const index = fmix32(h) % dimension
    const sign = (fmix32(h ^ 0x9e3779b9) & 1) === 0 ? 1 : -1
    const weight = (feature.includes("\u0001") ? BIGRAM_WEIGHT : 1) * (1 + Math.log(count))
    v[index] = (v[index] ?? 0) + sign * weight
  }
  let norm = 0
  for (let i = 0; i < dimension; i++) norm += (v[i] ?? 0) * (v[i] ?? 0)
  const out = new Array<number>(dimension)
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0
  for (let i = 0; i < dimension; i++) out[i] = (v[i] ?? 0) * scale
  return out
}

/** Cosine similarity of two vectors of equal length (0 when either is zero). */
export const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let dot = 0
  let na = 0
  let nb = 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}
