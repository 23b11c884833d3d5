import { SUMMARY_MAX_CHARS } from "../../contract/analysis/Analysis.ts"
import { germanStopwords, englishStopwords } from "./language.ts"
import { normalizedWords, truncateAtWord } from "./text.ts"

/**
 * Extractive summary: drop greetings, quoted replies, signatures and list
 * footers; split the rest into sentences; score them (position, overlap with
 * the subject, amounts/dates/requests, length) and keep the best ones in their
 * original order within the character budget. Line and character scanning
 * only, no regular expressions.
 */

const GREETINGS = [
  "hallo",
  "hi ",
  "hi,",
  "hey",
  "hello",
  "dear",
  "liebe ",
  "lieber ",
  "liebes ",
  "sehr geehrte",
  "guten tag",
  "guten morgen",
  "good morning",
  "moin",
  "servus",
  "grüß gott",
  "hi all",
  "hallo zusammen",
  "good afternoon"
]

const CLOSINGS = [
  "mit freundlichen grüßen",
  "mit freundlichen grüssen",
  "freundliche grüße",
  "viele grüße",
  "liebe grüße",
  "beste grüße",
  "herzliche grüße",
  "schöne grüße",
  "sportliche grüße",
  "gruß",
  "gruss",
  "best regards",
  "kind regards",
  "warm regards",
  "regards",
  "best,",
  "best wishes",
  "cheers",
  "thanks,",
  "thank you,",
  "danke,",
  "danke dir",
  "lg ",
  "lg,",
  "vg ",
  "mfg",
  "yours faithfully",
  "yours sincerely",
  "sincerely",
  "hab dich lieb",
  "kuss",
  "xx ",
  "sent from my",
  "von meinem iphone",
  "gesendet von"
]

const FOOTER_MARKERS = [
  "unsubscribe",
  "abmelden",
  "abbestellen",
  "abmeldung",
  "impressum",
  "datenschutz",
  "privacy",
  "view in browser",
  "im browser",
  "you are receiving",
  "you received this",
  "sie erhalten diese",
  "du erhältst diese",
  "this email was",
  "this message was sent",
  "diese e-mail wurde",
  "dies ist eine automatisch",
  "bitte antworten sie nicht",
  "do not reply"
]

const REPLY_MARKERS = [
  "-----original message",
  "-----ursprüngliche nachricht",
  "---------- forwarded",
  "-------- weitergeleitete"
]

const ABBREVIATIONS: ReadonlySet<string> = new Set([
  "nr",
  "dr",
  "ca",
  "bzw",
  "str",
  "inkl",
  "evtl",
  "st",
  "mr",
  "mrs",
  "ms",
  "etc",
  "vs",
  "no",
  "z",
  "b",
  "u",
  "a",
  "d",
  "h",
  "ggf",
  "usw",
  "tel",
  "abs",
  "vgl",
  "bspw",
  "prof",
  "co",
  "inc",
  "ltd",
  "gmbh",
  "jan",
  "feb",
  "mar",
  "apr",
  "jun",
  "jul",
  "aug",
  "sep",
  "sept",
  "oct",
  "okt",
  "nov",
  "dec",
  "dez"
])

const startsWithAny = (s: string, prefixes: ReadonlyArray<string>): boolean => {
  for (const p of prefixes) if (s.startsWith(p)) return true
  return false
}
const includesAny = (s: string, parts: ReadonlyArray<string>): boolean => {
  for (const p of parts) if (s.includes(p)) return true
  return false
}

const isUrlOnly = (line: string): boolean =>
  (line.startsWith("http://") || line.startsWith("https://") || line.startsWith("www.")) && !line.includes(" ")

const stripBullet = (line: string): string => {
  const c = line.charCodeAt(0)
  // - * • ·
  if ((c === 45 || c === 42 || c === 0x2022 || c === 0xb7) && line.charCodeAt(1) === 32) return line.slice(2)
  return line
}

/**
 * Reads the body's content lines in order, handing each to `take`; stops at the end of the
 * content (a reply header, a signature, a closing) or when `take` returns false. `take` sees the
 * lines before the trailing sign-off rule (see contentLines).
 */
const eachContentLine = (text: string, maxChars: number, take: (line: string) => boolean): void => {
  const limit = Math.min(text.length, maxChars)
  let start = 0
  while (start <= limit) {
    let end = text.indexOf("\n", start)
    if (end === -1 || end > limit) end = limit
    const raw = text.slice(start, end)
    start = end + 1
    const line = raw.trim()
    if (line.length === 0) continue
    const lower = line.toLowerCase()
    if (line.startsWith(">")) continue
    if (startsWithAny(lower, REPLY_MARKERS)) return
    if ((lower.startsWith("on ") && lower.endsWith("wrote:")) || (lower.startsWith("am ") && lower.includes("schrieb")))
      return
    if (line === "--" || raw.startsWith("-- ")) return
    if (line.length < 45 && startsWithAny(lower, CLOSINGS)) return
    if (line.length < 60 && startsWithAny(lower, GREETINGS)) continue
    if (includesAny(lower, FOOTER_MARKERS)) continue
    if (isUrlOnly(line)) continue
    if (line.length < 45 && isTeamSignOff(lower)) continue
    if (!take(stripBullet(line))) return
  }
}

/** Drops trailing sign-off lines: a name, "Reception Tower B", "Ihre Sparkasse KölnBonn". */
const dropSignOff = (lines: Array<string>): Array<string> => {
  while (lines.length > 1 && isBareShortLine(lines[lines.length - 1] ?? "")) lines.pop()
  return lines
}

/** The lines of the body that carry content. */
export const contentLines = (text: string, maxChars: number): Array<string> => {
  const out: Array<string> = []
  eachContentLine(text, maxChars, (line) => {
    out.push(line)
    return true
  })
  return dropSignOff(out)
}

/**
 * The content lines `summarize` reads: the first ones up to the MAX_SENTENCES-th sentence, the
 * same prefix as contentLines gives, without reading the rest of a long body. Reading stops at a
 * line that is not a bare short line once the sentences are enough: the sign-off rule only drops
 * the bare short lines at the very end, so it cannot reach that line or any before it.
 */
const leadingContentLines = (text: string, maxChars: number): Array<string> => {
  const out: Array<string> = []
  let sentences = 0
  eachContentLine(text, maxChars, (line) => {
    out.push(line)
    const bare = isBareShortLine(line)
    if (sentences >= MAX_SENTENCES && !bare) return false
    sentences += sentencesOf(line).length
    return !(sentences >= MAX_SENTENCES && !bare)
  })
  return dropSignOff(out)
}

const isTeamSignOff = (lower: string): boolean => {
  let end = lower.length
  while (end > 0 && (lower.charCodeAt(end - 1) === 33 || lower.charCodeAt(end - 1) === 46)) end--
  return lower.slice(0, end).endsWith("team")
}

/** Short, at most four words, no sentence punctuation or digits. */
const isBareShortLine = (line: string): boolean => {
  if (line.length >= 30) return false
  let words = 1
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === 32) words++
    if (c === 46 || c === 33 || c === 63 || c === 58 || c === 44 || (c >= 48 && c <= 57)) return false
  }
  return words <= 4
}

const isDigits = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

const isUpperOrDigit = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || (c >= 0xc0 && c <= 0xde)

/** Split one line into sentences at . ! ? followed by a space and an upper-case letter or digit. */
export const sentencesOf = (line: string): Array<string> => {
  const out: Array<string> = []
  let start = 0
  for (let i = 0; i < line.length - 2; i++) {
    const c = line.charCodeAt(i)
    if (c !== 46 && c !== 33 && c !== 63) continue
    if (line.charCodeAt(i + 1) !== 32 || !isUpperOrDigit(line.charCodeAt(i + 2))) continue
    if (c === 46) {
      // abbreviation before the dot? ("Nr. 2026", "Dr. Yilmaz", "z.B. Hamburg")
      let w = i - 1
      while (w >= start && line.charCodeAt(w) !== 32 && line.charCodeAt(w) !== 46) w--
      const word = line.slice(w + 1, i).toLowerCase()
      if (ABBREVIATIONS.has(word)) continue
      // German ordinal dates: "am 20. Juni", "11. März"
      if (word.length > 0 && word.length <= 2 && isDigits(word) && line.charCodeAt(w) !== 46) continue
    }
    const s = line.slice(start, i + 1).trim()
    if (s.length > 0) out.push(s)
    start = i + 2
  }
  const rest = line.slice(start).trim()
  if (rest.length > 0) out.push(rest)
  return out
}

const REQUEST_WORDS: ReadonlySet<string> = new Set([
  "bitte",
  "please",
  "could",
  "kannst",
  "konnen",
  "konnten",
  "need",
  "brauche",
  "bis",
  "by",
  "until",
  "due",
  "fallig",
  "deadline",
  "spatestens"
])

const contentWords = (s: string): Array<string> =>
  normalizedWords(s).filter((w) => w.length > 2 && !germanStopwords.has(w) && !englishStopwords.has(w))

const hasMoneyOrNumber = (s: string): { money: boolean; digits: boolean } => {
  let money = false
  let digits = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x20ac || c === 36 || c === 0xa3) money = true
    else if (c >= 48 && c <= 57) digits = true
  }
  if (!money) {
    const lower = s.toLowerCase()
    money = lower.includes(" eur") || lower.includes(" usd")
  }
  return { money, digits }
}

interface Scored {
  readonly index: number
  readonly text: string
  readonly score: number
}

const MAX_SENTENCES = 40

/** The sentences a summary is chosen from: the first MAX_SENTENCES of the body's content lines. */
export const summarySentences = (text: string, textBudget: number): Array<string> => {
  const sentences: Array<string> = []
  for (const line of leadingContentLines(text, textBudget)) {
    for (const s of sentencesOf(line)) {
      sentences.push(s)
      if (sentences.length >= MAX_SENTENCES) return sentences
    }
  }
  return sentences
}

export const summarize = (
  subject: string,
  text: string,
  maxChars: number = SUMMARY_MAX_CHARS,
  textBudget = 20_000
): string => {
  const sentences = summarySentences(text, textBudget)
  const subjectWords = new Set(contentWords(subject))
  const scored: Array<Scored> = []
  sentences.forEach((s, index) => {
    if (s.length < 12 && !s.includes(":")) return
    const words = contentWords(s)
    if (words.length === 0) return
    let score = 1 / (1 + 0.3 * index)
    let overlap = 0
    let requests = 0
    for (const w of words) {
      if (subjectWords.has(w)) overlap++
      if (REQUEST_WORDS.has(w)) requests++
    }
    score += Math.min(overlap, 4) * 0.35
    score += Math.min(requests, 2) * 0.3
    const { money, digits } = hasMoneyOrNumber(s)
    if (money) score += 0.5
    else if (digits) score += 0.15
    if (s.length < 25) score -= 0.5
    if (s.length > 220) score -= 0.3
    scored.push({ index, text: s, score })
  })
  if (scored.length === 0) return truncateAtWord(collapse(subject), maxChars)
  const best = [...scored].sort((a, b) => b.score - a.score || a.index - b.index)
  const chosen: Array<Scored> = []
  let used = 0
  for (const s of best) {
    const len = s.text.length + (chosen.length > 0 ? 1 : 0)
    if (chosen.length === 0 && s.text.length > maxChars) {
      return truncateAtWord(capitalize(collapse(s.text)), maxChars)
    }
    if (used + len > maxChars) continue
    chosen.push(s)
    used += len
    if (chosen.length >= 3) break
  }
  chosen.sort((a, b) => a.index - b.index)
  return truncateAtWord(capitalize(collapse(chosen.map((s) => s.text).join(" "))), maxChars)
}

const capitalize = (s: string): string => (s.length === 0 ? s : s.charAt(0).toUpperCase() + s.slice(1))

/** Collapse whitespace runs (incl. newlines and tabs) to single spaces. */
const collapse = (s: string): string => {
  let out = ""
  let space = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0xa0) {
      space = true
      continue
    }
    if (c < 32) continue
    if (space && out.length > 0) out += " "
    space = false
    out += s[i]
  }
  return out
}
