/**
 * Deadline detection over normalised word tokens (see text.ts): a deadline
 * keyword ("bis", "spätestens", "by", "until", "due", "fällig", "deadline",
 * "within", ...) followed within a few words by a date expression (weekday,
 * "morgen"/"tomorrow", "Ende März", "24.03.2026", "March 25", "in 7 Tagen").
 * The result is the number of days from the message date to the nearest
 * deadline (negative = already past). Token based: no regular expressions.
 */

const DEADLINE_KEYWORDS: ReadonlySet<string> = new Set([
  "bis",
  "spatestens",
  "by",
  "until",
  "till",
  "before",
  "due",
  "fallig",
  "deadline",
  "frist",
  "latest",
  "expires",
  "ablauf",
  "innerhalb",
  "within",
  "zum",
  "vor"
])

const WEEKDAYS: ReadonlyMap<string, number> = new Map([
  ["sonntag", 0],
  ["montag", 1],
  ["dienstag", 2],
  ["mittwoch", 3],
  ["donnerstag", 4],
  ["freitag", 5],
  ["samstag", 6],
  ["sonnabend", 6],
  ["sunday", 0],
  ["monday", 1],
  ["tuesday", 2],
  ["wednesday", 3],
  ["thursday", 4],
  ["friday", 5],
  ["saturday", 6]
])

const MONTHS: ReadonlyMap<string, number> = new Map([
  ["januar", 0],
  ["january", 0],
  ["jan", 0],
  ["jaenner", 0],
  ["februar", 1],
  ["february", 1],
  ["feb", 1],
  ["marz", 2],
  ["maerz", 2],
  ["march", 2],
  ["mar", 2],
  ["april", 3],
  ["apr", 3],
  ["mai", 4],
  ["may", 4],
  ["juni", 5],
  ["june", 5],
  ["jun", 5],
  ["juli", 6],
  ["july", 6],
  ["jul", 6],
  ["august", 7],
  ["aug", 7],
  ["september", 8],
  ["sep", 8],
  ["sept", 8],
  ["oktober", 9],
  ["october", 9],
  ["okt", 9],
  ["oct", 9],
  ["november", 10],
  ["nov", 10],
  ["dezember", 11],
  ["december", 11],
  ["dez", 11],
  ["dec", 11]
])

const RELATIVE_DAYS: ReadonlyMap<string, number> = new Map([
  ["heute", 0],
  ["today", 0],
  ["tonight", 0],
  ["eod", 0],
  ["feierabend", 0],
  ["morgen", 1],
  ["tomorrow", 1],
  ["ubermorgen", 2]
])

const DAY_MS = 86_400_000
const WINDOW = 5

const utcDay = (d: Date): number => Math.floor(d.getTime() / DAY_MS)

/** Parse a token that is all digits (optionally with an ordinal suffix: 1st, 2nd, 25th). */
const leadingInt = (token: string | undefined): number | undefined => {
  if (token === undefined || token.length === 0) return undefined
  let n = 0
  let i = 0
  for (; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c < 48 || c > 57) break
    n = n * 10 + (c - 48)
    if (i > 4) return undefined
  }
  if (i === 0) return undefined
  const rest = token.slice(i)
  if (rest === "" || rest === "st" || rest === "nd" || rest === "rd" || rest === "th") return n
  return undefined
}

const dayOf = (year: number, month: number, day: number): number | undefined => {
  if (month < 0 || month > 11 || day < 1 || day > 31) return undefined
  const t = Date.UTC(year, month, day)
  const d = new Date(t)
  if (d.getUTCMonth() !== month) return undefined
  return Math.floor(t / DAY_MS)
}

const fullYear = (y: number | undefined, fallback: number): number | undefined => {
  if (y === undefined) return fallback
  if (y >= 2000 && y <= 2099) return y
  if (y >= 0 && y <= 99) return 2000 + y
  return undefined
}

/** Words a date expression can start with besides a number (see readDate). */
const DATE_WORDS: ReadonlySet<string> = new Set([
  ...RELATIVE_DAYS.keys(),
  ...WEEKDAYS.keys(),
  ...MONTHS.keys(),
  "ende",
  "end",
  "next",
  "nachste",
  "nachsten"
])

/** Whether readDate can read anything at this token: most words of a body cannot, and are skipped at once. */
const mayStartDate = (token: string): boolean => {
  const c = token.charCodeAt(0)
  return (c >= 48 && c <= 57) || DATE_WORDS.has(token)
}

/**
 * Try to read a date expression starting at tokens[i]. Returns the absolute
 * UTC day number, or undefined.
 */
const readDate = (
  tokens: ReadonlyArray<string>,
  i: number,
  today: number,
  todayDate: Date,
  durations = true
): number | undefined => {
  const t = tokens[i]
  if (t === undefined || !mayStartDate(t)) return undefined
  const rel = RELATIVE_DAYS.get(t)
  if (rel !== undefined) return today + rel
  const weekday = WEEKDAYS.get(t)
  if (weekday !== undefined) {
    const diff = (weekday - todayDate.getUTCDay() + 7) % 7
    return today + (diff === 0 ? 7 : diff)
  }
  const year = todayDate.getUTCFullYear()
  // "ende marz" / "end of march" / "ende des monats" / "end of the month" / "end of (the) week"
  if (t === "ende" || t === "end") {
    let j = i + 1
    if (tokens[j] === "of" || tokens[j] === "des" || tokens[j] === "der") j++
    if (tokens[j] === "the") j++
    const what = tokens[j]
    if (what === "monats" || what === "month") {
      const month = todayDate.getUTCMonth()
      const first = dayOf(month === 11 ? year + 1 : year, (month + 1) % 12, 1)
      return first === undefined ? undefined : first - 1
    }
    if (what === "woche" || what === "week") return today + ((5 - todayDate.getUTCDay() + 7) % 7)
    const m = what === undefined ? undefined : MONTHS.get(what)
    if (m !== undefined) {
      const first = dayOf(m === 11 ? year + 1 : year, (m + 1) % 12, 1)
      return first === undefined ? undefined : first - 1
    }
    return undefined
  }
  if (t === "next" || t === "nachste" || t === "nachsten") {
    const what = tokens[i + 1]
    if (what === "week" || what === "woche") return today + 7
    return what === undefined ? undefined : readDate(tokens, i + 1, today, todayDate, durations)
  }
  // "in 7 tagen" / "in 14 days" / "von 7 tagen" (after "innerhalb") / "24 hours"
  const n = leadingInt(t)
  const unit = tokens[i + 1]
  if (durations && n !== undefined && unit !== undefined) {
    if (unit === "tagen" || unit === "tage" || unit === "days" || unit === "day" || unit === "werktagen")
      return today + n
    if (unit === "stunden" || unit === "hours" || unit === "minuten" || unit === "minutes")
      return today + Math.floor(n / 24)
    if (unit === "wochen" || unit === "weeks") return today + 7 * n
  }
  // month name first: "march 25 2026", "march 25th"
  const m1 = MONTHS.get(t)
  if (m1 !== undefined) {
    const d = leadingInt(tokens[i + 1])
    if (d === undefined) return undefined
    const y = fullYear(leadingInt(tokens[i + 2]), year)
    return y === undefined ? undefined : dayOf(y, m1, d)
  }
  if (n === undefined) return undefined
  // yyyy mm dd
  if (n >= 2000 && n <= 2099) {
    const mm = leadingInt(tokens[i + 1])
    const dd = leadingInt(tokens[i + 2])
    return mm === undefined || dd === undefined ? undefined : dayOf(n, mm - 1, dd)
  }
  // dd [of] monthname [yyyy]
  let j = i + 1
  if (tokens[j] === "of") j++
  const m2 = tokens[j] === undefined ? undefined : MONTHS.get(tokens[j] ?? "")
  if (m2 !== undefined) {
    const y = fullYear(leadingInt(tokens[j + 1]), year)
    return y === undefined ? undefined : dayOf(y, m2, n)
  }
  // dd mm [yyyy] (from "24.03.2026" / "24.03.")
  const mm = leadingInt(tokens[i + 1])
  if (mm !== undefined && mm >= 1 && mm <= 12 && n >= 1 && n <= 31) {
    const yTok = leadingInt(tokens[i + 2])
    const y = yTok !== undefined && (yTok >= 2000 || yTok <= 99) ? fullYear(yTok, year) : year
    return y === undefined ? undefined : dayOf(y, mm - 1, n)
  }
  return undefined
}

export interface DeadlineScan {
  /** Days from the message date to the nearest deadline; undefined when none was found. */
  readonly days: number | undefined
  /** How many deadline expressions were found. */
  readonly count: number
  /** Days to the nearest date mentioned anywhere that is today or later (deadline or not). */
  readonly nextMention: number | undefined
}

export const findDeadlines = (tokens: ReadonlyArray<string>, messageDate: Date): DeadlineScan => {
  const today = utcDay(messageDate)
  let best: number | undefined
  let count = 0
  let nextMention: number | undefined
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]
    if (t === undefined) continue
    if (!DEADLINE_KEYWORDS.has(t)) {
      const prev = tokens[i - 1]
      if (prev === "guten" || prev === "good" || prev === "heute") continue
      const day = readDate(tokens, i, today, messageDate, false)
      if (day !== undefined) {
        const days = day - today
        if (days >= 0 && days <= 120 && (nextMention === undefined || days < nextMention)) nextMention = days
      }
      continue
    }
    const end = Math.min(tokens.length, i + 1 + WINDOW)
    for (let j = i + 1; j < end; j++) {
      const day = readDate(tokens, j, today, messageDate)
      if (day === undefined) continue
      const days = day - today
      // ignore absurd values (years away or long past: probably not a deadline)
      if (days > 120 || days < -60) break
      count++
      if (best === undefined || days < best) best = days
      break
    }
  }
  return { days: best, count, nextMention }
}
