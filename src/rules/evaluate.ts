/**
 * Auto-rules: the pure evaluator. No database, no IMAP: the caller builds a `RuleSubject` from a
 * stored message (effective values, user overrides already applied), compiles the user's rules once,
 * and gets back explanations, an action plan, and the minimal list of changes to apply.
 *
 * Semantics (details in README.md next to this file):
 * - `planActions` runs enabled rules in ascending `priority` (ties keep the caller's order). Each rule
 *   sees the message as the rules before it left it (a rule that adds tag `invoice` lets a later
 *   `tag has invoice` rule match in the same run), like a person applying them one after another.
 * - When two matched rules disagree (markRead vs markUnread, two different moves, add vs remove of a
 *   tag, two priorities), the earlier rule wins; the later action is listed in `overridden`.
 * - `stopProcessing` on a matched rule ends the pass after that rule.
 * - The plan settles: while a pass changes the message, the rules are evaluated again on the changed
 *   message, so applying `diffPlan`'s changes and running the same rules again changes nothing
 *   (unless the rules undo each other; then `converged` is false).
 * - `diffPlan` drops actions that are already true of the message.
 *
 * Cost bounds: the body is cut to 64 KiB (16 KiB for regexes) and the subject to 4 KiB before matching, at most 500
 * recipients are considered, and regexes run on re2js (linear time, program size capped by the schema).
 */
import { Effect, Result, Schema } from "effect"
import type { RE2JS } from "re2js"
import {
  type AddressCondition,
  type CompareOp,
  describeAction,
  foldKey,
  foldText,
  MatchMode,
  RuleAction,
  type RuleCondition,
  type RuleInput,
  type TextCondition
} from "../contract/rules/Rule.ts"
import { ConditionResult, type ObservedValue } from "../contract/rules/RuleSchemas.ts"
import { checkRegex } from "./regex.ts"

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

export const EvaluationLimits = {
  /** Characters (UTF-16 code units) of the body text that `contains` / `equals` conditions look at. */
  maxBodyChars: 64 * 1024,
  /**
   * Characters of the body text a `regex` condition looks at. A regex near the size cap costs about
   * 50 ms per KiB in re2js' NFA fallback on this class of machine (0.2-0.3 s on 16 KiB, 0.7-0.8 s on
   * 64 KiB; `npx tsx bench/rules-regex.ts`); `contains` is microseconds on 64 KiB. The dry run and
   * `rules.apply` both cut here, so they decide alike.
   */
  maxRegexBodyChars: 16 * 1024,
  maxSubjectChars: 4096,
  maxAddressChars: 1000,
  /** To and Cc addresses considered, each. */
  maxRecipients: 500,
  /** Observed strings in explanations are cut to about this many characters. */
  observedMaxChars: 120,
  observedMaxItems: 20
} as const

export interface MailAddress {
  readonly name?: string | null | undefined
  readonly address: string
}

/** What the evaluator needs of a message. Analysis values are the effective ones (user overrides applied). */
export interface RuleSubject {
  readonly from: MailAddress | null
  readonly to: ReadonlyArray<MailAddress>
  readonly cc: ReadonlyArray<MailAddress>
  readonly subject: string
  readonly bodyText: string
  readonly hasAttachment: boolean
  /** IMAP path of the mailbox the message is in, e.g. "INBOX" or "Archive/2024". */
  readonly mailbox: string
  /** RFC 6154 special use of that mailbox, e.g. "\\Trash", when known. */
  readonly mailboxSpecialUse?: string | null | undefined
  /** Path of the account's special-use Trash mailbox, when known (target of `delete`). */
  readonly trashMailbox?: string | null | undefined
  /**
   * Mailboxes the planned actions copied the message to (simulation only: a `copyTo` there is then a
   * no-op, so a plan settles). Whether a copy already exists on the server is checked by the
   * executor (by Message-ID in the destination), not here.
   */
  readonly copiedTo?: ReadonlyArray<string> | undefined
  /** null: not analysed (yet). Conditions on a null value are false (true when negated). */
  readonly category: string | null
  readonly urgency: number | null
  readonly importance: number | null
  readonly score: number | null
  readonly spam: boolean | null
  readonly tags: ReadonlyArray<string>
  readonly flags: { readonly seen: boolean; readonly flagged: boolean }
  /**
   * How the store derives `score` from urgency and importance, when it does (the database's
   * `email_effective.score` is 2 x urgency + importance). Given, a `setPriority` recomputes `score`,
   * so a plan that changes the priority also sees the score it leads to (and settles on it).
   */
  readonly scoreOf?: ((urgency: number | null, importance: number | null) => number | null) | undefined
}

/** `email_effective.score` (and src/analysis `score`): 2 x urgency + importance, null when either is unknown. */
export const effectiveScore = (urgency: number | null, importance: number | null): number | null =>
  urgency === null || importance === null ? null : 2 * urgency + importance

// ---------------------------------------------------------------------------
// Results (Schemas, so an API layer can return them and a run log can store them)
// ---------------------------------------------------------------------------

export const RuleEvaluation = Schema.Struct({
  matched: Schema.Boolean,
  match: MatchMode,
  conditions: Schema.Array(ConditionResult)
})
export type RuleEvaluation = typeof RuleEvaluation.Type

export const RuleRef = Schema.Struct({
  /** Position of the rule in the array given to `planActions`. */
  index: Schema.Int,
  id: Schema.optionalKey(Schema.String),
  name: Schema.String,
  priority: Schema.Int
})
export type RuleRef = typeof RuleRef.Type

export const PlannedAction = Schema.Struct({ action: RuleAction, rule: RuleRef })
export type PlannedAction = typeof PlannedAction.Type

export const OverriddenAction = Schema.Struct({
  action: RuleAction,
  rule: RuleRef,
  /** The earlier rule whose action won. */
  by: RuleRef,
  reason: Schema.String
})
export type OverriddenAction = typeof OverriddenAction.Type

export const ActionPlan = Schema.Struct({
  /** Rules that matched, in the order they ran. */
  matchedRules: Schema.Array(RuleRef),
  /** The merged, effective actions in execution order (priority, tags, read, flag, copies, then move/delete last). */
  actions: Schema.Array(PlannedAction),
  overridden: Schema.Array(OverriddenAction),
  /** The rule whose stopProcessing ended the first pass. */
  stoppedBy: Schema.optionalKey(RuleRef),
  /** Rule evaluations over all passes (disabled rules and rules after a stop are not evaluated). */
  evaluatedRules: Schema.Int,
  /** Evaluation passes: 1 when the first pass changes nothing, usually 2 otherwise (see planActions). */
  passes: Schema.Int,
  /** false when the rules undo each other on this message; the plan is then the first pass only. */
  converged: Schema.Boolean
})
export type ActionPlan = typeof ActionPlan.Type

export class InvalidRule extends Schema.TaggedError<InvalidRule>()("InvalidRule", {
  message: Schema.String,
  ruleName: Schema.String,
  conditionIndex: Schema.optionalKey(Schema.Int)
}) {}

// ---------------------------------------------------------------------------
// Prepared text of a message (computed lazily, once per message)
// ---------------------------------------------------------------------------

interface PreparedAddress {
  /** "Name <address>" or "address" */
  readonly display: string
  readonly displayFolded: string
  readonly address: string
  readonly addressFolded: string
  readonly name: string
  readonly domain: string
}

const cut = (s: string, max: number): string => {
  if (s.length <= max) return s
  // do not leave half a surrogate pair at the end
  const code = s.charCodeAt(max - 1)
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max)
}

const prepareAddress = (a: MailAddress): PreparedAddress => {
  const address = cut(a.address, EvaluationLimits.maxAddressChars).normalize("NFC").trim()
  const name = cut(a.name ?? "", EvaluationLimits.maxAddressChars)
    .normalize("NFC")
    .trim()
  const display = name.length > 0 ? `${name} <${address}>` : address
  const addressFolded = foldText(address)
  const at = addressFolded.lastIndexOf("@")
  return {
    display,
    displayFolded: foldText(display),
    address,
    addressFolded,
    name,
    domain: at >= 0 ? addressFolded.slice(at + 1) : ""
  }
}

/** Text fields of a message, normalised and cut; actions never change them. */
class PreparedText {
  #subject: string | undefined
  #subjectFolded: string | undefined
  #body: string | undefined
  #bodyFolded: string | undefined
  #regexBody: string | undefined
  #from: PreparedAddress | null | undefined
  #to: ReadonlyArray<PreparedAddress> | undefined
  #cc: ReadonlyArray<PreparedAddress> | undefined
  #recipients: ReadonlyArray<PreparedAddress> | undefined

  readonly #source: RuleSubject
  /** Results of conditions that only look at text (they cannot change while rules run). */
  readonly memo = new Map<CompiledCondition, boolean>()

  constructor(source: RuleSubject) {
    this.#source = source
  }

  get subject(): string {
    if (this.#subject === undefined) {
      this.#subject = cut(this.#source.subject, EvaluationLimits.maxSubjectChars).normalize("NFC")
    }
    return this.#subject
  }
  get subjectFolded(): string {
    if (this.#subjectFolded === undefined) this.#subjectFolded = foldText(this.subject)
    return this.#subjectFolded
  }
  get body(): string {
    if (this.#body === undefined)
      this.#body = cut(this.#source.bodyText, EvaluationLimits.maxBodyChars).normalize("NFC")
    return this.#body
  }
  get bodyFolded(): string {
    if (this.#bodyFolded === undefined) this.#bodyFolded = foldText(this.body)
    return this.#bodyFolded
  }
  /** The shorter cut of the body that regex conditions look at. */
  get regexBody(): string {
    if (this.#regexBody === undefined) this.#regexBody = cut(this.body, EvaluationLimits.maxRegexBodyChars)
    return this.#regexBody
  }
  get from(): PreparedAddress | null {
    if (this.#from === undefined) this.#from = this.#source.from === null ? null : prepareAddress(this.#source.from)
    return this.#from
  }
  get to(): ReadonlyArray<PreparedAddress> {
    if (this.#to === undefined) {
      this.#to = this.#source.to.slice(0, EvaluationLimits.maxRecipients).map(prepareAddress)
    }
    return this.#to
  }
  get cc(): ReadonlyArray<PreparedAddress> {
    if (this.#cc === undefined) {
      this.#cc = this.#source.cc.slice(0, EvaluationLimits.maxRecipients).map(prepareAddress)
    }
    return this.#cc
  }
  get recipients(): ReadonlyArray<PreparedAddress> {
    if (this.#recipients === undefined) this.#recipients = [...this.to, ...this.cc]
    return this.#recipients
  }
}

const preparedCache = new WeakMap<RuleSubject, PreparedText>()
const prepare = (subject: RuleSubject): PreparedText => {
  let prepared = preparedCache.get(subject)
  if (prepared === undefined) {
    prepared = new PreparedText(subject)
    preparedCache.set(subject, prepared)
  }
  return prepared
}

/** The current state of a message (flags, tags, mailbox, priority) and its prepared text. */
interface View {
  readonly state: RuleSubject
  readonly text: PreparedText
}

// ---------------------------------------------------------------------------
// Observed values
// ---------------------------------------------------------------------------

const ELLIPSIS = "…"
const collapse = (s: string): string => s.replace(/\s+/g, " ")

/** Cuts to about `observedMaxChars`, collapsing whitespace. */
export const truncateObserved = (s: string): string => {
  const max = EvaluationLimits.observedMaxChars
  const flat = collapse(s.length > max * 4 ? s.slice(0, max * 4) : s)
  return flat.length > max ? `${cut(flat, max - 1)}${ELLIPSIS}` : flat
}

/** A window of about `observedMaxChars` around [start, end) of `text`. */
const excerpt = (text: string, start: number, end: number): string => {
  const max = EvaluationLimits.observedMaxChars
  if (text.length <= max) return collapse(text)
  const matchLength = Math.max(0, end - start)
  const before = Math.max(10, Math.floor((max - Math.min(matchLength, max - 20)) / 2))
  let from = Math.max(0, start - before)
  const to = Math.min(text.length, from + max)
  from = Math.max(0, to - max)
  // avoid starting on the low half of a surrogate pair
  const first = text.charCodeAt(from)
  if (first >= 0xdc00 && first <= 0xdfff) from += 1
  const body = collapse(cut(text.slice(from), to - from))
  return `${from > 0 ? ELLIPSIS : ""}${body}${to < text.length ? ELLIPSIS : ""}`
}

const observedList = (items: ReadonlyArray<string>): ReadonlyArray<string> => {
  const shown = items.slice(0, EvaluationLimits.observedMaxItems).map(truncateObserved)
  return items.length > shown.length ? [...shown, `(+${items.length - shown.length} more)`] : shown
}

// ---------------------------------------------------------------------------
// Compiled conditions
// ---------------------------------------------------------------------------

interface CompiledCondition {
  readonly index: number
  readonly description: string
  readonly negate: boolean
  /** Relative cost, cheap conditions are tried first when only the verdict is needed. */
  readonly cost: number
  /** Looks only at text fields (addresses, subject, body), which actions never change. */
  readonly textOnly: boolean
  /** Result before `negate`. */
  readonly test: (view: View) => boolean
  readonly observe: (view: View, rawPassed: boolean) => ObservedValue
}

export interface CompiledRule {
  readonly id?: string
  readonly name: string
  readonly enabled: boolean
  readonly match: "all" | "any"
  readonly priority: number
  readonly stopProcessing: boolean
  readonly actions: ReadonlyArray<RuleAction>
  readonly source: RuleInput
  readonly conditions: ReadonlyArray<CompiledCondition>
  /** Condition positions from cheapest to most expensive. */
  readonly order: ReadonlyArray<number>
}

/** Matching of one string value: `raw` is NFC-normalised, `folded` its case-folded form. */
interface StringMatcher {
  readonly test: (raw: string, folded: () => string) => boolean
  /** Where the match is in `raw`, for the explanation excerpt. */
  readonly locate: (raw: string, folded: () => string) => readonly [number, number] | null
  readonly cost: number
}

const quote = (value: string): string => `'${truncateObserved(value)}'`

const mapFoldedIndex = (raw: string, folded: string, index: number): number =>
  folded.length === raw.length ? index : Math.round((index * raw.length) / Math.max(1, folded.length))

const containsMatcher = (value: string, caseSensitive: boolean): StringMatcher => {
  if (caseSensitive) {
    const needle = value.normalize("NFC")
    return {
      test: (raw) => raw.includes(needle),
      locate: (raw) => {
        const i = raw.indexOf(needle)
        return i < 0 ? null : [i, i + needle.length]
      },
      cost: 1
    }
  }
  const needle = foldText(value)
  return {
    test: (_raw, folded) => folded().includes(needle),
    locate: (raw, folded) => {
      const f = folded()
      const i = f.indexOf(needle)
      if (i < 0) return null
      const start = mapFoldedIndex(raw, f, i)
      return [start, start + value.length]
    },
    cost: 1
  }
}

const equalsMatcher = (value: string, caseSensitive: boolean): StringMatcher => {
  const whole = (raw: string): readonly [number, number] => [0, raw.length]
  if (caseSensitive) {
    const expected = value.normalize("NFC").trim()
    return {
      test: (raw) => raw.trim() === expected,
      locate: (raw) => (raw.trim() === expected ? whole(raw) : null),
      cost: 1
    }
  }
  const expected = foldText(value).trim()
  return {
    test: (_raw, folded) => folded().trim() === expected,
    locate: (raw, folded) => (folded().trim() === expected ? whole(raw) : null),
    cost: 1
  }
}

const regexMatcher = (regex: RE2JS, programSize: number): StringMatcher => ({
  test: (raw) => regex.test(raw),
  locate: (raw) => {
    const m = regex.matcher(raw)
    return m.find() ? [m.start(), m.end()] : null
  },
  cost: 4 + Math.ceil(programSize / 50)
})

const compareSymbol: Record<CompareOp, string> = { eq: "=", gte: ">=", lte: "<=", gt: ">", lt: "<" }
const compare = (actual: number, op: CompareOp, expected: number): boolean => {
  switch (op) {
    case "eq":
      return actual === expected
    case "gte":
      return actual >= expected
    case "lte":
      return actual <= expected
    case "gt":
      return actual > expected
    case "lt":
      return actual < expected
  }
}

/** IMAP: INBOX is case-insensitive, every other path is compared as is. */
export const sameMailbox = (a: string, b: string): boolean =>
  a === b || (a.toUpperCase() === "INBOX" && b.toUpperCase() === "INBOX")

const hasTag = (tags: ReadonlyArray<string>, tag: string): boolean => {
  const key = foldKey(tag)
  return tags.some((t) => foldKey(t) === key)
}

interface StringCondition {
  readonly op: "contains" | "equals" | "regex"
  readonly value: string
  readonly caseSensitive?: boolean | undefined
}

const stringMatcherFor = (
  condition: StringCondition,
  index: number,
  ruleName: string
): Result.Result<{ readonly matcher: StringMatcher; readonly shown: string }, InvalidRule> => {
  const caseSensitive = condition.caseSensitive === true
  switch (condition.op) {
    case "regex": {
      const checked = checkRegex(condition.value, caseSensitive)
      if (checked._tag === "Invalid") {
        return Result.fail(
          new InvalidRule({
            message: `rule '${ruleName}': condition ${index + 1}: ${checked.problem}`,
            ruleName,
            conditionIndex: index
          })
        )
      }
      const shown = `matches /${truncateObserved(condition.value)}/${caseSensitive ? "" : "i"}`
      return Result.succeed({ matcher: regexMatcher(checked.regex, checked.programSize), shown })
    }
    case "contains":
      return Result.succeed({
        matcher: containsMatcher(condition.value, caseSensitive),
        shown: `contains ${quote(condition.value)}${caseSensitive ? " (case-sensitive)" : ""}`
      })
    case "equals":
      return Result.succeed({
        matcher: equalsMatcher(condition.value, caseSensitive),
        shown: `equals ${quote(condition.value)}${caseSensitive ? " (case-sensitive)" : ""}`
      })
  }
}

type Compiled = Omit<CompiledCondition, "index" | "negate" | "textOnly">

const compileAddressCondition = (
  condition: AddressCondition,
  index: number,
  ruleName: string
): Result.Result<Compiled, InvalidRule> => {
  const label = condition.field === "from" ? "sender" : condition.field
  const select = (view: View): ReadonlyArray<PreparedAddress> => {
    switch (condition.field) {
      case "from": {
        const from = view.text.from
        return from === null ? [] : [from]
      }
      case "to":
        return view.text.to
      case "cc":
        return view.text.cc
      case "recipients":
        return view.text.recipients
    }
  }
  let one: (a: PreparedAddress) => boolean
  let description: string
  let cost = 1
  const op = condition.op
  if (op === "equals") {
    const expected = foldText(condition.value.trim())
    one = (a) => a.addressFolded === expected
    description = `${label} equals ${quote(condition.value)}`
  } else if (op === "domain") {
    const domain = foldText(condition.value.trim()).replace(/^@/, "")
    const suffix = `.${domain}`
    one = (a) => a.domain === domain || a.domain.endsWith(suffix)
    description = `${label} domain ${quote(condition.value)}`
  } else {
    const built = stringMatcherFor(
      { op, value: condition.value, caseSensitive: condition.caseSensitive },
      index,
      ruleName
    )
    if (Result.isFailure(built)) return Result.fail(built.failure)
    const { matcher, shown } = built.success
    one =
      op === "regex"
        ? (a) =>
            matcher.test(a.address, () => a.addressFolded) ||
            (a.name.length > 0 && matcher.test(a.name, () => foldText(a.name)))
        : (a) => matcher.test(a.display, () => a.displayFolded)
    description = `${label} ${shown}`
    cost = matcher.cost
  }
  const isList = condition.field !== "from"
  return Result.succeed({
    description,
    cost: isList ? cost + 1 : cost,
    test: (view) => select(view).some(one),
    observe: (view, rawPassed) => {
      const all = select(view)
      const first = all[0]
      if (!isList) return first === undefined ? null : truncateObserved(first.display)
      const shown = rawPassed ? all.filter(one) : all
      return observedList(shown.map((a) => a.display))
    }
  })
}

const compileTextCondition = (
  condition: TextCondition,
  index: number,
  ruleName: string
): Result.Result<Compiled, InvalidRule> => {
  const built = stringMatcherFor(condition, index, ruleName)
  if (Result.isFailure(built)) return Result.fail(built.failure)
  const { matcher, shown } = built.success
  const isBody = condition.field === "body"
  // regexes see a shorter cut of the body than contains/equals (their cost is per character)
  const raw =
    isBody && condition.op === "regex"
      ? (view: View) => view.text.regexBody
      : (view: View) => (isBody ? view.text.body : view.text.subject)
  const folded = (view: View) => () => (isBody ? view.text.bodyFolded : view.text.subjectFolded)
  return Result.succeed({
    description: `${condition.field} ${shown}`,
    cost: isBody ? matcher.cost * 4 : matcher.cost + 1,
    test: (view) => matcher.test(raw(view), folded(view)),
    observe: (view, rawPassed) => {
      const text = raw(view)
      const at = rawPassed ? matcher.locate(text, folded(view)) : null
      return at === null ? truncateObserved(text) : excerpt(text, at[0], at[1])
    }
  })
}

const compileCondition = (
  condition: RuleCondition,
  index: number,
  ruleName: string
): Result.Result<CompiledCondition, InvalidRule> => {
  let compiled: Result.Result<Compiled, InvalidRule>
  switch (condition.field) {
    case "from":
    case "to":
    case "cc":
    case "recipients":
      compiled = compileAddressCondition(condition, index, ruleName)
      break
    case "subject":
    case "body":
      compiled = compileTextCondition(condition, index, ruleName)
      break
    case "hasAttachment": {
      const expected = condition.value
      compiled = Result.succeed({
        description: expected ? "has attachment" : "has no attachment",
        cost: 0,
        test: (view) => view.state.hasAttachment === expected,
        observe: (view) => view.state.hasAttachment
      })
      break
    }
    case "mailbox": {
      const expected = condition.value
      compiled = Result.succeed({
        description: `mailbox equals ${quote(expected)}`,
        cost: 0,
        test: (view) => sameMailbox(view.state.mailbox, expected),
        observe: (view) => truncateObserved(view.state.mailbox)
      })
      break
    }
    case "category": {
      const observe = (view: View) => (view.state.category === null ? null : truncateObserved(view.state.category))
      if (condition.op === "equals") {
        const key = foldKey(condition.value)
        compiled = Result.succeed({
          description: `category equals ${quote(condition.value)}`,
          cost: 0,
          test: (view) => view.state.category !== null && foldKey(view.state.category) === key,
          observe
        })
      } else {
        const keys = new Set(condition.value.map(foldKey))
        compiled = Result.succeed({
          description: `category in [${condition.value.map(quote).join(", ")}]`,
          cost: 0,
          test: (view) => view.state.category !== null && keys.has(foldKey(view.state.category)),
          observe
        })
      }
      break
    }
    case "urgency":
    case "importance":
    case "score": {
      const { field, op, value } = condition
      compiled = Result.succeed({
        description: `${field} ${compareSymbol[op]} ${value}`,
        cost: 0,
        test: (view) => {
          const actual = view.state[field]
          return actual !== null && compare(actual, op, value)
        },
        observe: (view) => view.state[field]
      })
      break
    }
    case "spam": {
      const expected = condition.value
      compiled = Result.succeed({
        description: expected ? "is spam" : "is not spam",
        cost: 0,
        test: (view) => view.state.spam === expected,
        observe: (view) => view.state.spam
      })
      break
    }
    case "tag": {
      const { op, value } = condition
      compiled = Result.succeed({
        description: `${op === "has" ? "has" : "lacks"} tag ${quote(value)}`,
        cost: 0,
        test: (view) => hasTag(view.state.tags, value) === (op === "has"),
        observe: (view) => observedList(view.state.tags)
      })
      break
    }
  }
  if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
  const negate = condition.negate === true
  const c = compiled.success
  return Result.succeed({
    index,
    negate,
    description: negate ? `not (${c.description})` : c.description,
    cost: c.cost,
    textOnly: ["from", "to", "cc", "recipients", "subject", "body"].includes(condition.field),
    test: c.test,
    observe: c.observe
  })
}

/**
 * Compiles a rule (regexes are compiled once here). Fails with `InvalidRule` only for a rule that did
 * not go through the `RuleInput` schema (or a stored regex a newer re2js rejects).
 */
export const compileRuleResult = (
  rule: RuleInput,
  options?: { readonly id?: string }
): Result.Result<CompiledRule, InvalidRule> => {
  const conditions: Array<CompiledCondition> = []
  for (const [index, condition] of rule.conditions.entries()) {
    const compiled = compileCondition(condition, index, rule.name)
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    conditions.push(compiled.success)
  }
  if (conditions.length === 0) {
    return Result.fail(new InvalidRule({ message: `rule '${rule.name}' has no conditions`, ruleName: rule.name }))
  }
  const order = conditions
    .map((c) => c.index)
    .sort((a, b) => (conditions[a]?.cost ?? 0) - (conditions[b]?.cost ?? 0) || a - b)
  const base = {
    name: rule.name,
    enabled: rule.enabled,
    match: rule.match,
    priority: rule.priority,
    stopProcessing: rule.stopProcessing,
    actions: rule.actions,
    source: rule,
    conditions,
    order
  }
  return Result.succeed(options?.id === undefined ? base : { ...base, id: options.id })
}

/** `compileRuleResult` as an Effect. */
export const compileRule = (
  rule: RuleInput,
  options?: { readonly id?: string }
): Effect.Effect<CompiledRule, InvalidRule> => Effect.fromResult(compileRuleResult(rule, options))

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/** Result before `negate`; text-only results are remembered per message. */
const rawResult = (c: CompiledCondition, view: View): boolean => {
  if (!c.textOnly) return c.test(view)
  const known = view.text.memo.get(c)
  if (known !== undefined) return known
  const result = c.test(view)
  view.text.memo.set(c, result)
  return result
}

const conditionPasses = (c: CompiledCondition, view: View): boolean => rawResult(c, view) !== c.negate

/** The verdict only: cheap conditions first, stops as soon as the result is known. */
const verdict = (rule: CompiledRule, view: View): boolean => {
  const all = rule.match === "all"
  for (const i of rule.order) {
    const c = rule.conditions[i]
    if (c === undefined) continue
    const passed = conditionPasses(c, view)
    if (all && !passed) return false
    if (!all && passed) return true
  }
  return all
}

/** Whether the rule matches (fast: no explanation). Ignores `enabled`. */
export const matchesRule = (rule: CompiledRule, subject: RuleSubject): boolean =>
  verdict(rule, { state: subject, text: prepare(subject) })

/** Evaluates every condition and explains it. Ignores `enabled` (a disabled rule can be tested). */
export const evaluateRule = (rule: CompiledRule, subject: RuleSubject): RuleEvaluation => {
  const view: View = { state: subject, text: prepare(subject) }
  const conditions = rule.conditions.map((c): ConditionResult => {
    const raw = rawResult(c, view)
    return { index: c.index, description: c.description, passed: raw !== c.negate, observed: c.observe(view, raw) }
  })
  const matched = rule.match === "all" ? conditions.every((c) => c.passed) : conditions.some((c) => c.passed)
  return { matched, match: rule.match, conditions }
}

const showObserved = (observed: ObservedValue): string => {
  if (observed === null) return "none"
  if (typeof observed === "string") return `'${observed}'`
  if (typeof observed === "number" || typeof observed === "boolean") return String(observed)
  return `[${observed.map((s) => `'${s}'`).join(", ")}]`
}

/**
 * One line per evaluation: "matched (all): subject contains 'Rechnung': true (saw 'Ihre Rechnung');
 * sender domain 'example.com': false (saw 'Shop <info@shop.de>')".
 */
export const formatEvaluation = (evaluation: RuleEvaluation): string =>
  `${evaluation.matched ? "matched" : "not matched"} (${evaluation.match}): ${evaluation.conditions
    .map((c) => `${c.description}: ${c.passed} (saw ${showObserved(c.observed)})`)
    .join("; ")}`

// ---------------------------------------------------------------------------
// Simulating actions
// ---------------------------------------------------------------------------

const isInTrash = (subject: RuleSubject): boolean =>
  subject.mailboxSpecialUse === "\\Trash" ||
  (subject.trashMailbox !== undefined && subject.trashMailbox !== null && subject.mailbox === subject.trashMailbox)

/** Whether applying `action` to `subject` would change nothing. */
export const isNoOp = (action: RuleAction, subject: RuleSubject): boolean => {
  switch (action.type) {
    case "markRead":
      return subject.flags.seen
    case "markUnread":
      return !subject.flags.seen
    case "flag":
      return subject.flags.flagged
    case "unflag":
      return !subject.flags.flagged
    case "addTag":
      return hasTag(subject.tags, action.tag)
    case "removeTag":
      return !hasTag(subject.tags, action.tag)
    case "setPriority":
      return (
        (action.urgency === undefined || action.urgency === subject.urgency) &&
        (action.importance === undefined || action.importance === subject.importance)
      )
    case "moveTo":
      return sameMailbox(subject.mailbox, action.mailbox)
    case "copyTo":
      // a copy into the message's own mailbox would only make a duplicate
      return (
        sameMailbox(subject.mailbox, action.mailbox) ||
        (subject.copiedTo ?? []).some((path) => sameMailbox(path, action.mailbox))
      )
    case "delete":
      return isInTrash(subject)
  }
}

/**
 * The message as it will be after `actions` (pure). Text fields are unchanged. A `delete` moves to
 * `trashMailbox` when known; the mailbox is then marked as special-use Trash either way.
 */
export const applyActions = (subject: RuleSubject, actions: ReadonlyArray<RuleAction>): RuleSubject => {
  let next: RuleSubject = subject
  for (const action of actions) {
    if (isNoOp(action, next)) continue
    switch (action.type) {
      case "markRead":
      case "markUnread":
        next = { ...next, flags: { ...next.flags, seen: action.type === "markRead" } }
        break
      case "flag":
      case "unflag":
        next = { ...next, flags: { ...next.flags, flagged: action.type === "flag" } }
        break
      case "addTag":
        next = { ...next, tags: [...next.tags, action.tag] }
        break
      case "removeTag": {
        const key = foldKey(action.tag)
        next = { ...next, tags: next.tags.filter((t) => foldKey(t) !== key) }
        break
      }
      case "setPriority": {
        const urgency = action.urgency ?? next.urgency
        const importance = action.importance ?? next.importance
        next = {
          ...next,
          urgency,
          importance,
          ...(next.scoreOf === undefined ? {} : { score: next.scoreOf(urgency, importance) })
        }
        break
      }
      case "moveTo":
        next = {
          ...next,
          mailbox: action.mailbox,
          mailboxSpecialUse: next.trashMailbox === action.mailbox ? "\\Trash" : null
        }
        break
      case "delete":
        next = { ...next, mailbox: next.trashMailbox ?? next.mailbox, mailboxSpecialUse: "\\Trash" }
        break
      case "copyTo":
        // the original stays where it is
        next = { ...next, copiedTo: [...(next.copiedTo ?? []), action.mailbox] }
        break
    }
  }
  return next
}

// ---------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------

interface Decision {
  readonly action: RuleAction
  readonly rule: RuleRef
}

/** Key of what an action decides, and the decided value (to tell agreement from conflict). */
const decisionsOf = (action: RuleAction): ReadonlyArray<{ key: string; value: string; part: RuleAction }> => {
  switch (action.type) {
    case "markRead":
    case "markUnread":
      return [{ key: "seen", value: action.type, part: action }]
    case "flag":
    case "unflag":
      return [{ key: "flagged", value: action.type, part: action }]
    case "moveTo":
      return [{ key: "location", value: `moveTo:${action.mailbox}`, part: action }]
    case "delete":
      return [{ key: "location", value: "delete", part: action }]
    case "copyTo":
      return [
        {
          key: `copy:${action.mailbox.toUpperCase() === "INBOX" ? "INBOX" : action.mailbox}`,
          value: "copyTo",
          part: action
        }
      ]
    case "addTag":
    case "removeTag":
      return [{ key: `tag:${foldKey(action.tag)}`, value: action.type, part: action }]
    case "setPriority": {
      const parts: Array<{ key: string; value: string; part: RuleAction }> = []
      if (action.urgency !== undefined) {
        parts.push({
          key: "urgency",
          value: String(action.urgency),
          part: { type: "setPriority", urgency: action.urgency }
        })
      }
      if (action.importance !== undefined) {
        parts.push({
          key: "importance",
          value: String(action.importance),
          part: { type: "setPriority", importance: action.importance }
        })
      }
      return parts
    }
  }
}

const decisionValue = (action: RuleAction): string => {
  const [first] = decisionsOf(action)
  return first?.value ?? ""
}

const phase = (key: string): number =>
  key === "urgency" || key === "importance"
    ? 0
    : key.startsWith("tag:")
      ? 1
      : key === "seen"
        ? 2
        : key === "flagged"
          ? 3
          : key.startsWith("copy:")
            ? 4
            : 5

/** Sorts decisions into execution order and joins urgency + importance set by the same rule. */
const toPlannedActions = (decisions: ReadonlyMap<string, Decision>): ReadonlyArray<PlannedAction> => {
  const entries = [...decisions.entries()].map(([key, d], i) => ({ key, d, i }))
  entries.sort((a, b) => phase(a.key) - phase(b.key) || a.i - b.i)
  const out: Array<PlannedAction> = []
  const urgency = decisions.get("urgency")
  const importance = decisions.get("importance")
  for (const { key, d } of entries) {
    if (key === "urgency" && importance !== undefined && importance.rule.index === d.rule.index) {
      const u = d.action.type === "setPriority" ? d.action.urgency : undefined
      const im = importance.action.type === "setPriority" ? importance.action.importance : undefined
      const joined: RuleAction = {
        type: "setPriority",
        ...(u === undefined ? {} : { urgency: u }),
        ...(im === undefined ? {} : { importance: im })
      }
      out.push({ action: joined, rule: d.rule })
      continue
    }
    if (key === "importance" && urgency !== undefined && urgency.rule.index === d.rule.index) continue
    out.push({ action: d.action, rule: d.rule })
  }
  return out
}

const refOf = (rule: CompiledRule, index: number): RuleRef =>
  rule.id === undefined
    ? { index, name: rule.name, priority: rule.priority }
    : { index, id: rule.id, name: rule.name, priority: rule.priority }

export interface PlanOptions {
  /** Evaluate disabled rules too (a dry run of a rule that is switched off). Default false. */
  readonly includeDisabled?: boolean
}

/** Re-evaluation rounds before a plan that keeps changing is given up as oscillating. */
export const MAX_PLAN_PASSES = 6

interface Pass {
  readonly decisions: Map<string, Decision>
  readonly matchedRules: ReadonlyArray<RuleRef>
  readonly overridden: ReadonlyArray<OverriddenAction>
  readonly stoppedBy: RuleRef | undefined
  readonly evaluatedRules: number
}

type OrderedRules = ReadonlyArray<{ readonly rule: CompiledRule; readonly index: number }>

/** One pass over the rules in order; each rule sees the state the rules before it left. */
const singlePass = (ordered: OrderedRules, start: RuleSubject, text: PreparedText): Pass => {
  let state = start
  const decisions = new Map<string, Decision>()
  const matchedRules: Array<RuleRef> = []
  const overridden: Array<OverriddenAction> = []
  let stoppedBy: RuleRef | undefined
  let evaluatedRules = 0
  for (const { rule, index } of ordered) {
    evaluatedRules += 1
    if (!verdict(rule, { state, text })) continue
    const ref = refOf(rule, index)
    matchedRules.push(ref)
    const accepted: Array<RuleAction> = []
    for (const action of rule.actions) {
      for (const { key, value, part } of decisionsOf(action)) {
        const earlier = decisions.get(key)
        if (earlier === undefined) {
          decisions.set(key, { action: part, rule: ref })
          accepted.push(part)
        } else if (decisionValue(earlier.action) !== value) {
          const from = earlier.rule.index === ref.index ? "the same rule" : `rule '${earlier.rule.name}'`
          overridden.push({
            action: part,
            rule: ref,
            by: earlier.rule,
            reason: `${describeAction(part)} conflicts with ${describeAction(earlier.action)} from ${from}, which runs first`
          })
        }
      }
    }
    state = applyActions(state, accepted)
    if (rule.stopProcessing) {
      stoppedBy = ref
      break
    }
  }
  return { decisions, matchedRules, overridden, stoppedBy, evaluatedRules }
}

/** Everything actions can change, as one comparable string. */
const stateKey = (s: RuleSubject): string =>
  JSON.stringify([
    s.flags.seen,
    s.flags.flagged,
    s.mailbox,
    s.mailboxSpecialUse ?? null,
    s.urgency,
    s.importance,
    s.tags.map(foldKey).sort(),
    (s.copiedTo ?? []).map((path) => (path.toUpperCase() === "INBOX" ? "INBOX" : path)).sort()
  ])

/**
 * Runs the rules over one message and merges the actions of the matched rules into one plan.
 *
 * - Rules run in ascending priority (stable for ties); each sees the message as changed by the rules
 *   before it; the first rule to decide an aspect (read state, flag, location, a tag, urgency,
 *   importance) wins, later conflicting actions are listed in `overridden`; `stopProcessing` on a
 *   matched rule ends the pass.
 * - The plan is settled: when the pass changed the message, the rules are evaluated again on the
 *   changed message, and whatever that re-evaluation would still change is part of the plan (it
 *   supersedes the earlier decision on the same aspect). This repeats until nothing changes, so
 *   running the same rules on the result changes nothing. Example: "tag has invoice -> flag" at
 *   priority 1 and "subject contains Rechnung -> addTag invoice" at priority 2 give both actions in
 *   one run.
 * - If the rules undo each other (A removes what B adds), no settled state exists: the plan is the
 *   first pass only and `converged` is false, so the caller can warn the user.
 */
export const planActions = (
  rules: ReadonlyArray<CompiledRule>,
  subject: RuleSubject,
  options?: PlanOptions
): ActionPlan => {
  const includeDisabled = options?.includeDisabled === true
  const ordered = rules
    .map((rule, index) => ({ rule, index }))
    .filter(({ rule }) => includeDisabled || rule.enabled)
    .sort((a, b) => a.rule.priority - b.rule.priority || a.index - b.index)
  const text = prepare(subject)

  const first = singlePass(ordered, subject, text)
  const firstPlan = (converged: boolean, passes: number, evaluatedRules: number): ActionPlan => {
    const plan = {
      matchedRules: first.matchedRules,
      actions: toPlannedActions(first.decisions),
      overridden: first.overridden,
      evaluatedRules,
      passes,
      converged
    }
    return first.stoppedBy === undefined ? plan : { ...plan, stoppedBy: first.stoppedBy }
  }

  let changes = diffActions(toPlannedActions(first.decisions), subject)
  if (changes.length === 0) return firstPlan(true, 1, first.evaluatedRules)

  const decisions = new Map(first.decisions)
  const matched = new Map(first.matchedRules.map((r) => [r.index, r] as const))
  const overridden = [...first.overridden]
  let evaluatedRules = first.evaluatedRules
  let state = applyActions(
    subject,
    changes.map((c) => c.action)
  )
  const seen = new Set([stateKey(subject), stateKey(state)])
  let passes = 1
  let converged = false
  while (passes < MAX_PLAN_PASSES) {
    passes += 1
    const pass = singlePass(ordered, state, text)
    evaluatedRules += pass.evaluatedRules
    changes = diffActions(toPlannedActions(pass.decisions), state)
    if (changes.length === 0) {
      converged = true
      break
    }
    for (const ref of pass.matchedRules) if (!matched.has(ref.index)) matched.set(ref.index, ref)
    for (const change of changes) {
      for (const { key, part } of decisionsOf(change.action)) {
        const earlier = decisions.get(key)
        if (earlier !== undefined) {
          overridden.push({
            action: earlier.action,
            rule: earlier.rule,
            by: change.rule,
            reason:
              `${describeAction(earlier.action)} is superseded by ${describeAction(part)} from rule ` +
              `'${change.rule.name}', which applies to the message as the earlier actions leave it`
          })
        }
        decisions.set(key, { action: part, rule: change.rule })
      }
    }
    state = applyActions(
      state,
      changes.map((c) => c.action)
    )
    const key = stateKey(state)
    if (seen.has(key)) break
    seen.add(key)
  }
  if (!converged) return firstPlan(false, passes, evaluatedRules)
  const plan = {
    matchedRules: [...matched.values()],
    actions: toPlannedActions(decisions),
    overridden,
    evaluatedRules,
    passes,
    converged
  }
  return first.stoppedBy === undefined ? plan : { ...plan, stoppedBy: first.stoppedBy }
}

/**
 * The actions of a plan that would change the message, in execution order (copies, then move/delete last).
 * Already read -> no markRead; already in the target mailbox -> no moveTo; tag present -> no addTag;
 * a setPriority keeps only the values that differ.
 */
export const diffPlan = (plan: ActionPlan, subject: RuleSubject): ReadonlyArray<PlannedAction> =>
  diffActions(plan.actions, subject)

const diffActions = (actions: ReadonlyArray<PlannedAction>, subject: RuleSubject): ReadonlyArray<PlannedAction> => {
  const changes: Array<PlannedAction> = []
  // a copy into the mailbox the plan moves the message to would leave two there: the move is enough
  const moveTarget = actions.find((p) => p.action.type === "moveTo")?.action
  for (const planned of actions) {
    const { action } = planned
    if (isNoOp(action, subject)) continue
    if (
      action.type === "copyTo" &&
      moveTarget?.type === "moveTo" &&
      !isNoOp(moveTarget, subject) &&
      sameMailbox(moveTarget.mailbox, action.mailbox)
    )
      continue
    if (action.type === "setPriority") {
      const urgency = action.urgency !== undefined && action.urgency !== subject.urgency ? action.urgency : undefined
      const importance =
        action.importance !== undefined && action.importance !== subject.importance ? action.importance : undefined
      changes.push({
        ...planned,
        action: {
          type: "setPriority",
          ...(urgency === undefined ? {} : { urgency }),
          ...(importance === undefined ? {} : { importance })
        }
      })
      continue
    }
    changes.push(planned)
  }
  return changes
}

export interface DryRun {
  readonly evaluation: RuleEvaluation
  /** What applying this rule alone would change (empty when it does not match). */
  readonly changes: ReadonlyArray<PlannedAction>
}

/** Dry run of one rule on one message (for `POST /rules/:id/test`); works for disabled rules too. */
export const dryRunRule = (rule: CompiledRule, subject: RuleSubject): DryRun => {
  const evaluation = evaluateRule(rule, subject)
  if (!evaluation.matched) return { evaluation, changes: [] }
  return { evaluation, changes: diffPlan(planActions([rule], subject, { includeDisabled: true }), subject) }
}
