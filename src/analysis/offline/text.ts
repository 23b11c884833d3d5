import { Buffer } from "node:buffer"

/**
 * Text normalisation shared by the offline classifier, the summary and the
 * embeddings. Everything here is a single linear pass over char codes: no
 * regular expressions, so hostile input cannot trigger backtracking.
 *
 * Normal form: lowercase ASCII letters and digits, with every other run of
 * characters collapsed to one space; umlauts and accents are folded
 * (ä -> a, ß -> ss, é -> e), and the buffer is padded with one space on each
 * side so word-boundary checks never go out of range.
 */

/** Symbol codes used by the matcher: a-z = 0..25, 0-9 = 26..35, space = 36. */
export const ALPHABET_SIZE = 37
export const SPACE_SYMBOL = 36

const FOLD = new Map<number, string>()
const foldGroup = (target: string, chars: string) => {
  for (const c of chars) FOLD.set(c.charCodeAt(0), target)
}
foldGroup("a", "àáâãäåāăąÀÁÂÃÄÅĀĂĄ")
foldGroup("ae", "æÆ")
foldGroup("c", "çćĉċčÇĆĈĊČ")
foldGroup("d", "ďđĎĐ")
foldGroup("e", "èéêëēĕėęěÈÉÊËĒĔĖĘĚ")
foldGroup("g", "ĝğġģĜĞĠĢ")
foldGroup("i", "ìíîïĩīĭįıÌÍÎÏĨĪĬĮİ")
foldGroup("l", "ĺļľŀłĹĻĽĿŁ")
foldGroup("n", "ñńņňÑŃŅŇ")
foldGroup("o", "òóôõöøōŏőÒÓÔÕÖØŌŎŐ")
foldGroup("oe", "œŒ")
foldGroup("r", "ŕŗřŔŖŘ")
foldGroup("s", "śŝşšŚŜŞŠ")
foldGroup("ss", "ß")
foldGroup("t", "ţťŧŢŤŦ")
foldGroup("u", "ùúûüũūŭůűųÙÚÛÜŨŪŬŮŰŲ")
foldGroup("y", "ýÿŷÝŸŶ")
foldGroup("z", "źżžŹŻŽ")

/** Normalised text as symbol codes (see ALPHABET_SIZE). */
export interface Normalized {
  /** Symbols, padded with a leading and trailing space symbol. */
  readonly symbols: Uint8Array
  readonly length: number
}

const symbolOf = (code: number): number => {
  if (code >= 97 && code <= 122) return code - 97
  if (code >= 65 && code <= 90) return code - 65
  if (code >= 48 && code <= 57) return code - 48 + 26
  return -1
}

/**
 * Normalise at most `maxChars` characters of `input` (cut at the limit: callers
 * apply the configured text budget before this).
 */
export const normalize = (input: string, maxChars: number = input.length): Normalized => {
  const limit = Math.min(input.length, maxChars)
  // Folding can expand one char to two (ß -> ss); 2x + 2 is always enough.
  const out = new Uint8Array(limit * 2 + 2)
  let n = 0
  out[n++] = SPACE_SYMBOL
  let lastSpace = true
  for (let i = 0; i < limit; i++) {
    const code = input.charCodeAt(i)
    const sym = code < 128 ? symbolOf(code) : -1
    if (sym >= 0) {
      out[n++] = sym
      lastSpace = false
      continue
    }
    if (code >= 128) {
      const folded = FOLD.get(code)
      if (folded !== undefined) {
        for (let k = 0; k < folded.length; k++) out[n++] = folded.charCodeAt(k) - 97
        lastSpace = false
        continue
      }
    }
    if (!lastSpace) {
      out[n++] = SPACE_SYMBOL
      lastSpace = true
    }
  }
  if (!lastSpace) out[n++] = SPACE_SYMBOL
  return { symbols: out, length: n }
}

const SYMBOL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 "

/** Normalised string form of a pattern or phrase (no padding, single spaces). */
export const normalizeToString = (input: string): string => {
  const { symbols, length } = normalize(input)
  let s = ""
  for (let i = 1; i < length - 1; i++) s += SYMBOL_CHARS[symbols[i] ?? SPACE_SYMBOL]
  return s
}

/** The symbols' characters as char codes (see SYMBOL_CHARS). */
const SYMBOL_CODES = Uint8Array.from(SYMBOL_CHARS, (c) => c.charCodeAt(0))

/**
 * Split normalised symbols into word tokens. The symbols become one ASCII string at once and the
 * words are cut from it: building each word a character at a time made rope strings that every
 * later Set lookup flattened again.
 */
export const tokens = (norm: Normalized): Array<string> => {
  const out: Array<string> = []
  const { symbols, length } = norm
  const codes = new Uint8Array(length)
  for (let i = 0; i < length; i++) codes[i] = SYMBOL_CODES[symbols[i] ?? SPACE_SYMBOL] ?? 32
  const text = Buffer.from(codes.buffer, 0, length).toString("latin1")
  let start = -1
  for (let i = 0; i < length; i++) {
    if (codes[i] === 32) {
      if (start !== -1) {
        out.push(text.slice(start, i))
        start = -1
      }
    } else if (start === -1) start = i
  }
  return out
}

/** Reused by normalizedWords (one thread, no re-entry): sized to the longest text seen so far. */
let wordScratch = new Uint8Array(1_024)

/**
 * `tokens(normalize(input, maxChars))` without the two intermediate arrays: the normal form is
 * written as ASCII into a reused buffer and the words are cut from one string of it. For the many
 * short texts (sentences, subjects) where allocating per call was most of the cost.
 */
export const normalizedWords = (input: string, maxChars: number = input.length): Array<string> => {
  const limit = Math.min(input.length, maxChars)
  if (wordScratch.length < limit * 2 + 2) wordScratch = new Uint8Array(Math.max(limit * 2 + 2, wordScratch.length * 2))
  const out = wordScratch
  let n = 0
  out[n++] = 32
  let lastSpace = true
  for (let i = 0; i < limit; i++) {
    const code = input.charCodeAt(i)
    const sym = code < 128 ? symbolOf(code) : -1
    if (sym >= 0) {
      out[n++] = SYMBOL_CODES[sym] ?? 32
      lastSpace = false
      continue
    }
    if (code >= 128) {
      const folded = FOLD.get(code)
      if (folded !== undefined) {
        for (let k = 0; k < folded.length; k++) out[n++] = folded.charCodeAt(k)
        lastSpace = false
        continue
      }
    }
    if (!lastSpace) {
      out[n++] = 32
      lastSpace = true
    }
  }
  if (!lastSpace) out[n++] = 32
  const text = Buffer.from(out.buffer, 0, n).toString("latin1")
  const words: Array<string> = []
  let start = -1
  for (let i = 0; i < n; i++) {
    if (out[i] === 32) {
      if (start !== -1) {
        words.push(text.slice(start, i))
        start = -1
      }
    } else if (start === -1) start = i
  }
  return words
}

/** Cut `text` to at most `max` chars, at a word boundary when one is close. */
export const truncateAtWord = (text: string, max: number, ellipsis = "…"): string => {
  if (text.length <= max) return text
  const room = Math.max(0, max - ellipsis.length)
  let cut = room
  const floor = Math.floor(room * 0.6)
  while (cut > floor && text.charCodeAt(cut) !== 32) cut--
  if (cut <= floor) cut = room
  return text.slice(0, cut).trimEnd() + ellipsis
}

/** True when the code is a letter (ASCII or Latin-1/Extended-A). */
export const isLetterCode = (code: number): boolean =>
  (code >= 97 && code <= 122) ||
  (code >= 65 && code <= 90) ||
  (code >= 0xc0 && code <= 0x24f && code !== 0xd7 && code !== 0xf7)

export const isUpperCode = (code: number): boolean =>
  (code >= 65 && code <= 90) || (code >= 0xc0 && code <= 0xde && code !== 0xd7)

/**
 * The part of a reply that is new: drops lines quoted with ">" and everything
 * from a reply/forward header ("On ... wrote:", "Am ... schrieb",
 * "-----Original Message-----") on. Line scanning, no regular expressions.
 */
export const stripQuoted = (text: string): string => {
  if (!text.includes(">") && !text.includes("-----") && !text.includes("wrote:") && !text.includes("schrieb"))
    return text
  const lines = text.split("\n")
  const out: Array<string> = []
  for (const line of lines) {
    const t = line.trim()
    const lower = t.toLowerCase()
    if (t.startsWith(">")) continue
    if (lower.startsWith("-----original message") || lower.startsWith("-----ursprüngliche nachricht")) break
    if (
      (lower.startsWith("on ") && lower.endsWith("wrote:")) ||
      (lower.startsWith("am ") && lower.endsWith("schrieb:"))
    )
      break
    out.push(line)
  }
  return out.join("\n")
}
