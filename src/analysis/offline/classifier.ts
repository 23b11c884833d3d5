import {
  type AnalysisInput,
  type AnalysisResult,
  type Category,
  categories,
  type Level,
  SUMMARY_MAX_CHARS,
  TAG_MAX_CHARS,
  TAGS_MAX
} from "../../contract/analysis/Analysis.ts"
import { compile, type Pattern, parsePattern } from "./AhoCorasick.ts"
import { findDeadlines } from "./deadlines.ts"
import { detectLanguage } from "./language.ts"
import { lexicon, SIGNAL_COUNT, type Signal, signalIndex, signals } from "./lexicon.ts"
import {
  dangerousAttachments,
  type LinkProfile,
  profileLinks,
  profileSender,
  registrableDomain,
  type SenderProfile
} from "./senders.ts"
import { summarize } from "./summary.ts"
import { isLetterCode, isUpperCode, normalize, stripQuoted, tokens } from "./text.ts"

/**
 * The built-in offline classifier: deterministic German + English rules over
 * a lexicon (matched in one linear pass), header signals (List-Unsubscribe,
 * List-Id, Precedence, Auto-Submitted, X-Mailer), sender heuristics (no-reply,
 * free-mail, same organisation, known services, brand impersonation), link
 * analysis, attachment names and deadline detection. Produces an
 * AnalysisResult; `explain` also returns the intermediate scores.
 */

export interface OfflineOptions {
  /** Characters of the body that are analysed (the rest is ignored). */
  readonly textBudget: number
}

export const defaultOfflineOptions: OfflineOptions = { textBudget: 20_000 }

// ---------------------------------------------------------------------------
// compiled lexicon
// ---------------------------------------------------------------------------

const patterns: Array<Pattern> = []
lexicon.forEach((entry, owner) => {
  for (const raw of entry.patterns) patterns.push(parsePattern(raw, owner))
})
const matcher = compile(patterns)
const entryWeights: ReadonlyArray<Float64Array> = lexicon.map((entry) => {
  const w = new Float64Array(SIGNAL_COUNT)
  for (const s of signals) w[signalIndex(s)] = entry.weights[s] ?? 0
  return w
})

/** The category an entry mostly speaks for (undefined: none, e.g. urgency words). */
const entryAffinity: ReadonlyArray<Category | undefined> = lexicon.map((entry) => {
  let best: Category | undefined
  let weight = 0
  for (const c of categories) {
    const w = entry.weights[c] ?? 0
    if (w > weight) {
      weight = w
      best = c
    }
  }
  return best
})

const S = (s: Signal): number => signalIndex(s)
const WORK = S("work")
const PERSONAL = S("personal")
const FINANCE = S("finance")
const SHOPPING = S("shopping")
const TRAVEL = S("travel")
const NEWSLETTER = S("newsletter")
const NOTIFICATION = S("notification")
const SOCIAL = S("social")
const SECURITY = S("security")
const OTHER = S("other")
const URGENT = S("urgent")
const REQUEST = S("request")
const CALM = S("calm")
const SEVERE = S("severe")
const DISRUPTION = S("disruption")
const SPAM = S("spam")
const PHISH = S("phish")
const MARKETING = S("marketing")
const HUMAN = S("human")
const MEETING = S("meeting")
const OTP = S("otp")
const LOGIN = S("login")
const RESET = S("reset")
const DUNNING = S("dunning")
const PAYMENT = S("payment")
const AUTOREPLY = S("autoreply")

const CATEGORY_SIGNAL: ReadonlyArray<readonly [Category, number]> = [
  ["work", WORK],
  ["personal", PERSONAL],
  ["finance", FINANCE],
  ["shopping", SHOPPING],
  ["travel", TRAVEL],
  ["newsletter", NEWSLETTER],
  ["notification", NOTIFICATION],
  ["social", SOCIAL],
  ["security", SECURITY],
  ["other", OTHER]
]

const SUBJECT_FACTOR = 1.5
/** Each further distinct pattern of one entry adds half its weight, up to double. */
const EXTRA_PATTERN_FACTOR = 0.5
const MAX_ENTRY_FACTOR = 2

interface FieldScan {
  readonly firedEntries: Array<number>
}

const scanField = (
  text: string,
  maxChars: number,
  factor: number,
  scores: Float64Array,
  tagOrder: Array<number>
): { readonly words: Array<string> } & FieldScan => {
  const norm = normalize(text, maxChars)
  const seenPattern = new Uint8Array(patterns.length)
  const perEntry = new Map<number, number>()
  matcher.scan(norm, (pi) => {
    if (seenPattern[pi] === 1) return
    seenPattern[pi] = 1
    const owner = patterns[pi]?.owner ?? 0
    perEntry.set(owner, (perEntry.get(owner) ?? 0) + 1)
  })
  const firedEntries: Array<number> = []
  for (const [owner, distinct] of perEntry) {
    const w = entryWeights[owner]
    if (w === undefined) continue
    const f = factor * Math.min(MAX_ENTRY_FACTOR, 1 + EXTRA_PATTERN_FACTOR * (distinct - 1))
    for (let i = 0; i < SIGNAL_COUNT; i++) {
      const x = w[i] ?? 0
      if (x !== 0) scores[i] = (scores[i] ?? 0) + x * f
    }
    firedEntries.push(owner)
    if (lexicon[owner]?.tag !== undefined && !tagOrder.includes(owner)) tagOrder.push(owner)
  }
  return { words: tokens(norm), firedEntries }
}

// ---------------------------------------------------------------------------
// header and structure signals
// ---------------------------------------------------------------------------

const BULK_MAILERS = [
  "mailchimp",
  "sendinblue",
  "brevo",
  "cleverreach",
  "rapidmail",
  "mailjet",
  "sendgrid",
  "newsletter2go",
  "klaviyo",
  "campaign",
  "hubspot",
  "marketo",
  "mailerlite",
  "getresponse",
  "salesforce marketing"
]

const lower = (s: string | undefined): string => (s === undefined ? "" : s.toLowerCase())

const isReplySubject = (subject: string): boolean => {
  const s = subject.trimStart().toLowerCase()
  return (
    s.startsWith("re:") || s.startsWith("aw:") || s.startsWith("wg:") || s.startsWith("fwd:") || s.startsWith("fw:")
  )
}

interface SubjectShape {
  readonly capsRatio: number
  readonly letters: number
  readonly exclamations: number
}

const subjectShape = (subject: string): SubjectShape => {
  let letters = 0
  let upper = 0
  let exclamations = 0
  for (let i = 0; i < subject.length; i++) {
    const c = subject.charCodeAt(i)
    if (c === 33) exclamations++
    else if (isLetterCode(c)) {
      letters++
      if (isUpperCode(c)) upper++
    }
  }
  return { capsRatio: letters === 0 ? 0 : upper / letters, letters, exclamations }
}

/** "?" outside quoted lines (questions asked in this message, not in the quote). */
const questionMarks = (text: string, maxChars: number): number => {
  let n = 0
  let lineStart = true
  let quoted = false
  const limit = Math.min(text.length, maxChars)
  for (let i = 0; i < limit; i++) {
    const c = text.charCodeAt(i)
    if (c === 10) {
      lineStart = true
      quoted = false
      continue
    }
    if (lineStart && c !== 32) {
      quoted = c === 62
      lineStart = false
    }
    if (c === 63 && !quoted) {
      // ignore "?" inside URLs (query strings): previous char is part of a word and next is a letter
      const next = text.charCodeAt(i + 1)
      if (!Number.isNaN(next) && next !== 32 && next !== 10 && next !== 13 && next !== 34 && next !== 41) continue
      n++
    }
  }
  return n
}

// ---------------------------------------------------------------------------
// explain / classify
// ---------------------------------------------------------------------------

export interface Explanation {
  readonly result: AnalysisResult
  readonly categoryScores: Readonly<Record<Category, number>>
  readonly spamScore: number
  /** non-zero signals */
  readonly signals: ReadonlyArray<readonly [Signal, number]>
  readonly sender: SenderProfile
  readonly links: LinkProfile
  readonly deadlineDays: number | undefined
}

const SPAM_THRESHOLD = 4

const levelOf = (n: number): Level => (n >= 3 ? 3 : n >= 2 ? 2 : 1)

const round2 = (x: number): number => Math.round(x * 100) / 100

export const explain = (input: AnalysisInput, options: OfflineOptions = defaultOfflineOptions): Explanation => {
  const budget = Math.max(0, options.textBudget)
  const scores = new Float64Array(SIGNAL_COUNT)
  const tagOrder: Array<number> = []
  const subjectScan = scanField(input.subject, 1_000, SUBJECT_FACTOR, scores, tagOrder)
  // Only the new part of a reply counts; the budget applies before the cut.
  const body = stripQuoted(input.text.slice(0, budget))
  const bodyScan = scanField(body, budget, 1, scores, tagOrder)
  const allWords = subjectScan.words.concat(bodyScan.words)
  const get = (i: number): number => scores[i] ?? 0
  const add = (i: number, x: number) => {
    scores[i] = get(i) + x
  }

  // ---- headers
  const h = input.headers
  const listUnsubscribe = h.listUnsubscribe !== undefined && h.listUnsubscribe.trim().length > 0
  const listId = h.listId !== undefined && h.listId.trim().length > 0
  const precedence = lower(h.precedence).trim()
  const autoSubmitted = lower(h.autoSubmitted).trim()
  const xMailer = lower(h.xMailer)
  const bulkMailer = BULK_MAILERS.some((m) => xMailer.includes(m))
  if (listUnsubscribe) add(NEWSLETTER, 2.5)
  if (listId) add(NEWSLETTER, 1)
  if (precedence === "bulk" || precedence === "list") add(NEWSLETTER, 1.5)
  if (precedence === "junk") add(SPAM, 1.5)
  if (bulkMailer) add(NEWSLETTER, 2)
  const autoReplied = autoSubmitted === "auto-replied" || get(AUTOREPLY) >= 3
  if (autoSubmitted.length > 0 && autoSubmitted !== "no") add(NOTIFICATION, autoSubmitted === "auto-replied" ? 0 : 2)

  // ---- sender
  const sender = profileSender(input.from)
  const recipientDomains = input.to.map((a) => registrableDomain(a.slice(a.lastIndexOf("@") + 1)))
  const sameOrg = !sender.freemail && sender.registrable.length > 0 && recipientDomains.includes(sender.registrable)
  const automated = sender.noReply || listUnsubscribe || listId || bulkMailer || precedence === "bulk"
  if (sender.serviceCategory !== undefined) {
    const idx = CATEGORY_SIGNAL.find(([c]) => c === sender.serviceCategory)?.[1]
    if (idx !== undefined) add(idx, 3)
  }
  if (sender.noReply) add(NOTIFICATION, 1)
  const humanSender = !automated && !sender.role && (sender.personLike || sender.freemail)
  if (humanSender) add(HUMAN, 1)
  if (isReplySubject(input.subject)) add(HUMAN, 1.5)
  if (sameOrg && !automated) add(WORK, 3)
  else if (humanSender && !sender.freemail) add(WORK, 1.5)
  if (humanSender && sender.freemail) add(PERSONAL, 2)
  const questions = questionMarks(body, budget)
  if (questions > 0 && humanSender) add(REQUEST, 1)

  // ---- spam
  const links = profileLinks(body, sender)
  const shape = subjectShape(input.subject)
  const fromIsRecipient = input.to.some((a) => a.trim().toLowerCase() === sender.address)
  const danger = dangerousAttachments(input.attachmentNames)
  let structural = 0
  if (sender.impersonates !== undefined) structural += 3.5
  if (sender.lureDomain) structural += 2
  structural += Math.min(2, sender.suspiciousTld)
  structural += Math.min(3, links.ipHosts * 3)
  structural += Math.min(3, links.brandMismatch * 3)
  structural += Math.min(1.5, links.lureHosts * 1.5)
  structural += links.suspiciousTld
  structural += Math.min(1.5, links.shorteners * 1.5)
  if (danger > 0) structural += 2.5 + (get(FINANCE) > 0 ? 1 : 0)
  if (fromIsRecipient) structural += 2
  if (shape.letters >= 8 && shape.capsRatio > 0.5) structural += 1
  if (shape.exclamations >= 3) structural += 1
  let ham = 0
  if (sender.officialBrand) ham += 3
  if (links.allToSender && !sender.freemail) ham += 1.5
  if (sameOrg && !fromIsRecipient) ham += 3
  if (isReplySubject(input.subject)) ham += 1.5
  const spamScore = get(SPAM) + get(PHISH) * (structural > 0 ? 1 : 0.5) + structural - ham
  const spam = spamScore >= SPAM_THRESHOLD

  // ---- category
  const categoryScores: Record<Category, number> = {
    work: get(WORK),
    personal: get(PERSONAL),
    finance: get(FINANCE),
    shopping: get(SHOPPING),
    travel: get(TRAVEL),
    newsletter: get(NEWSLETTER),
    notification: get(NOTIFICATION),
    social: get(SOCIAL),
    security: get(SECURITY),
    other: get(OTHER)
  }
  // security notices are rarely newsletters even when they carry list headers
  if (get(LOGIN) >= 2 || get(OTP) >= 2) categoryScores.security += 2
  // bulk marketing beats the shop / travel words it talks about
  if (get(MARKETING) >= 1.5 && (listUnsubscribe || bulkMailer)) categoryScores.newsletter += 1.5
  let category: Category = "other"
  let best = 0
  let second = 0
  for (const c of categories) {
    const v = categoryScores[c]
    if (v > best) {
      second = best
      best = v
      category = c
    } else if (v > second) second = v
  }
  if (best < 1.5) {
    category = sameOrg ? "work" : humanSender ? (sender.freemail ? "personal" : "work") : "other"
  }
  if (autoReplied && sameOrg) category = "work"
  if (spam) category = "other"

  // ---- urgency
  const deadline = findDeadlines(allWords, input.date)
  const request = get(REQUEST)
  const urgentWords = get(URGENT)
  let urgency: Level = 1
  if (deadline.days !== undefined) {
    if (deadline.days <= 1) urgency = 3
    else if (request >= 1 || get(PAYMENT) >= 1 || get(DUNNING) >= 1) urgency = 2
  }
  if (urgentWords >= 2) urgency = 3
  const nearDate = deadline.nextMention !== undefined && deadline.nextMention <= 14
  if (urgency < 2 && (request >= 1.5 || (request >= 1 && (deadline.days !== undefined || nearDate)))) urgency = 2
  if (urgency < 2 && get(MEETING) >= 1.5 && humanSender) urgency = 2
  const paymentDue = deadline.days !== undefined && get(PAYMENT) >= 1
  if (get(CALM) >= 2 && get(DUNNING) < 1 && !paymentDue) urgency = 1

  // ---- importance
  const baseImportance: Record<Category, Level> = {
    work: 2,
    personal: 2,
    finance: 2,
    travel: 2,
    security: 3,
    shopping: 1,
    newsletter: 1,
    notification: 1,
    social: 1,
    other: 1
  }
  let importance: Level = baseImportance[category]
  if (get(SEVERE) >= 2 && (category === "work" || category === "finance" || category === "personal")) importance = 3
  switch (category) {
    case "finance":
      if (get(DUNNING) >= 2) {
        urgency = 3
        importance = 3
      }
      break
    case "security":
      urgency = get(LOGIN) >= 2 || get(OTP) >= 2 ? 3 : 2
      importance = get(OTP) >= 2 || (get(RESET) >= 2 && get(SEVERE) < 1) ? 2 : 3
      break
    case "travel":
      if (get(DISRUPTION) >= 2) {
        importance = 3
        urgency = urgency < 2 ? 2 : urgency
      }
      break
    case "shopping":
      urgency = deadline.days !== undefined && request >= 1 ? (deadline.days <= 1 ? 3 : 2) : 1
      importance = urgency >= 2 ? 2 : 1
      break
    case "notification":
      urgency = levelOf(Math.min(urgency, 2))
      if (get(REQUEST) < 1.5) urgency = urgentWords >= 2 ? 2 : 1
      importance = get(REQUEST) >= 1.5 ? 2 : 1
      break
    case "newsletter":
    case "social":
    case "other":
      urgency = 1
      importance = 1
      break
    default:
      break
  }
  if (autoReplied) {
    urgency = 1
    importance = 1
  }
  if (spam) {
    urgency = 1
    importance = 1
  }

  // ---- tags
  const tags: Array<string> = []
  const pushTag = (t: string) => {
    const tag = t.toLowerCase().trim().slice(0, TAG_MAX_CHARS)
    if (tag.length > 0 && !tags.includes(tag) && tags.length < TAGS_MAX) tags.push(tag)
  }
  if (spam)
    pushTag(sender.impersonates !== undefined || get(PHISH) >= 2 || links.brandMismatch > 0 ? "phishing" : "spam")
  if (deadline.days !== undefined && !spam && category !== "newsletter") pushTag("deadline")
  for (const owner of tagOrder) {
    const tag = lexicon[owner]?.tag
    const affinity = entryAffinity[owner]
    // a topic tag from another category only when that topic is substantial
    if (tag !== undefined && (affinity === undefined || affinity === category || categoryScores[affinity] >= 4))
      pushTag(tag)
  }
  if (input.hasAttachments) pushTag("attachment")

  // ---- language, summary, confidence
  const { language } = detectLanguage(allWords)
  const summary = summarize(input.subject, input.text, SUMMARY_MAX_CHARS, budget)
  const margin = best - second
  const confidence = spam
    ? Math.min(0.99, 0.6 + (spamScore - SPAM_THRESHOLD) * 0.05)
    : Math.min(0.95, Math.max(0.3, 0.35 + 0.08 * margin + 0.03 * Math.min(best, 10)))

  const signalList = signals.map((s) => [s, round2(get(signalIndex(s)))] as const).filter(([, v]) => v !== 0)
  return {
    result: {
      urgency,
      importance,
      category,
      spam,
      summary,
      tags,
      language,
      confidence: round2(confidence)
    },
    categoryScores,
    spamScore: round2(spamScore),
    signals: signalList,
    sender,
    links,
    deadlineDays: deadline.days
  }
}

export const classify = (input: AnalysisInput, options: OfflineOptions = defaultOfflineOptions): AnalysisResult =>
  explain(input, options).result
