/**
 * Auto-rules: the wire/storage shape of a rule, as Effect Schemas.
 *
 * A rule is `{ name, enabled, match, priority, stopProcessing, conditions, actions }`.
 * Decoding a rule checks, besides shapes and lengths:
 * - every regex compiles as RE2 (linear time) and is not too large (program size), the failure
 *   names the condition ("condition 2: invalid regex: missing closing ): `(abc`"). The check is the
 *   `RegexSyntax` service: decoding conditions needs it, and only the server provides it
 *   (src/rules/regex.ts, re2js), so the web app's bundle carries no RE2 engine. Encoding (what a
 *   client does with a payload) needs nothing;
 * - the actions of one rule do not contradict each other (markRead + markUnread, two moves, ...).
 *
 * Semantics that the schema alone does not show (the evaluator lives in `evaluate.ts`):
 * - `priority`: rules run in ascending order (priority 1 before priority 2); ties keep the caller's order.
 * - text matching (`contains`, `equals`, `regex`) is case-insensitive unless `caseSensitive: true`.
 *   Case folding is Unicode-aware (Ü = ü, ß = ss) and both sides are NFC-normalised.
 * - address `equals` and `domain` are always case-insensitive; `domain` also matches subdomains
 *   (`example.com` matches `mail.example.com`); a leading `@` in the value is ignored.
 * - `negate: true` inverts the condition's result.
 */
import { Context, Effect, Option, Schema, SchemaIssue } from "effect"

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

export const RuleLimits = {
  nameMaxLength: 200,
  maxConditions: 50,
  maxActions: 20,
  valueMaxLength: 1000,
  regexMaxLength: 500,
  /** re2js program size ("instructions") of one regex; bounds the per-character cost of matching. */
  regexMaxProgramSize: 1000,
  /** Sum of the program sizes of all regexes of one rule. */
  ruleMaxRegexProgramSize: 3000,
  tagMaxLength: 100,
  categoryMaxLength: 100,
  maxCategoriesIn: 50,
  mailboxMaxLength: 1000,
  priorityMin: 0,
  priorityMax: 1_000_000
} as const

/** Urgency and importance are 1 (low) to 3 (high); score is 0 to 100. */
export const LevelRange = { minimum: 1, maximum: 3 } as const
/** The priority score, 2 x urgency + importance, as the analysis stores it. */
export const ScoreRange = { minimum: 3, maximum: 9 } as const

// ---------------------------------------------------------------------------
// Regex syntax (declared here, provided by the server)
// ---------------------------------------------------------------------------

/** A regex condition's pattern, checked: its RE2 program size, or why it is refused. */
export type RegexVerdict =
  | { readonly _tag: "Ok"; readonly programSize: number }
  | { readonly _tag: "Invalid"; readonly problem: string }

/**
 * Checks a regex condition's pattern: RE2 syntax and program size (`RuleLimits.regexMaxProgramSize`).
 * `problem` is short and human-readable, e.g. "invalid regex: missing closing ): `(abc`". Decoding
 * `RuleConditions` (so `RuleInput` and `RulePatch`) requires it; the server provides the re2js one.
 */
export class RegexSyntax extends Context.Service<
  RegexSyntax,
  { readonly check: (pattern: string, caseSensitive: boolean | undefined) => RegexVerdict }
>()("mail-helper/RegexSyntax") {}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const noControlChars = /^[^\u0000-\u001f\u007f]*$/

const nonBlank = Schema.makeFilter<string>((s) => (s.trim().length > 0 ? undefined : "must not be blank"), {
  expected: "a non-blank string"
})

const boundedString = (max: number) => Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(max))

const singleLine = (max: number, what: string) =>
  Schema.String.check(
    nonBlank,
    Schema.isMaxLength(max),
    Schema.isPattern(noControlChars, { message: `${what} must not contain control characters` })
  )

/** Text value of a non-regex condition (1..1000 characters). */
export const ConditionValue = boundedString(RuleLimits.valueMaxLength).annotate({
  description: "text to compare with (1 to 1000 characters)"
})
export const TagName = singleLine(RuleLimits.tagMaxLength, "tag").annotate({
  description: "a tag (1 to 100 characters)"
})
export const CategoryName = singleLine(RuleLimits.categoryMaxLength, "category").annotate({
  description: "a category name (1 to 100 characters)"
})
export const MailboxPath = singleLine(RuleLimits.mailboxMaxLength, "mailbox").annotate({
  description: "an IMAP mailbox path such as INBOX or Archive/2024"
})
export const Level = Schema.Int.check(Schema.isBetween(LevelRange)).annotate({ description: "1 (low) to 3 (high)" })
export const Score = Schema.Int.check(Schema.isBetween(ScoreRange)).annotate({
  description: "3 to 9 (2 x urgency + importance)"
})

const negate = Schema.optionalKey(Schema.Boolean).annotate({ description: "invert the condition's result" })
const caseSensitive = Schema.optionalKey(Schema.Boolean).annotate({
  description: "compare case-sensitively (default: case-insensitive)"
})

/** A regex value may be at most 500 characters; other values 1000. Reported at `value`. */
const regexLength = Schema.makeFilter<{ readonly op: string; readonly value: string }>((c) =>
  c.op === "regex" && c.value.length > RuleLimits.regexMaxLength
    ? { path: ["value"], issue: `a regex must be at most ${RuleLimits.regexMaxLength} characters` }
    : undefined
)

// ---------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------

export const AddressOps = ["equals", "contains", "domain", "regex"] as const
export const TextOps = ["contains", "equals", "regex"] as const
export const CompareOps = ["eq", "gte", "lte", "gt", "lt"] as const
export type AddressOp = (typeof AddressOps)[number]
export type TextOp = (typeof TextOps)[number]
export type CompareOp = (typeof CompareOps)[number]

const addressCondition = <F extends "from" | "to" | "cc" | "recipients">(field: F) =>
  Schema.Struct({
    field: Schema.Literal(field),
    op: Schema.Literals(AddressOps),
    value: ConditionValue,
    caseSensitive,
    negate
  }).check(regexLength)

const textCondition = <F extends "subject" | "body">(field: F) =>
  Schema.Struct({
    field: Schema.Literal(field),
    op: Schema.Literals(TextOps),
    value: ConditionValue,
    caseSensitive,
    negate
  }).check(regexLength)

const compareCondition = <F extends "urgency" | "importance" | "score">(field: F, value: typeof Level | typeof Score) =>
  Schema.Struct({ field: Schema.Literal(field), op: Schema.Literals(CompareOps), value, negate })

export const FromCondition = addressCondition("from")
export const ToCondition = addressCondition("to")
export const CcCondition = addressCondition("cc")
/** `recipients` is To and Cc together. */
export const RecipientsCondition = addressCondition("recipients")
export const SubjectCondition = textCondition("subject")
export const BodyCondition = textCondition("body")
export const HasAttachmentCondition = Schema.Struct({
  field: Schema.Literal("hasAttachment"),
  value: Schema.Boolean,
  negate
})
export const MailboxCondition = Schema.Struct({
  field: Schema.Literal("mailbox"),
  op: Schema.Literal("equals"),
  value: MailboxPath,
  negate
})
export const CategoryEqualsCondition = Schema.Struct({
  field: Schema.Literal("category"),
  op: Schema.Literal("equals"),
  value: CategoryName,
  negate
})
export const CategoryInCondition = Schema.Struct({
  field: Schema.Literal("category"),
  op: Schema.Literal("in"),
  value: Schema.Array(CategoryName).check(Schema.isBetweenLength(1, RuleLimits.maxCategoriesIn)),
  negate
})
export const UrgencyCondition = compareCondition("urgency", Level)
export const ImportanceCondition = compareCondition("importance", Level)
export const ScoreCondition = compareCondition("score", Score)
export const SpamCondition = Schema.Struct({ field: Schema.Literal("spam"), value: Schema.Boolean, negate })
export const TagCondition = Schema.Struct({
  field: Schema.Literal("tag"),
  op: Schema.Literals(["has", "lacks"]),
  value: TagName,
  negate
})

const conditionFormsHelp =
  "a condition: {field: from|to|cc|recipients, op: equals|contains|domain|regex, value}, " +
  "{field: subject|body, op: contains|equals|regex, value}, {field: hasAttachment|spam, value: boolean}, " +
  "{field: mailbox, op: equals, value}, {field: category, op: equals|in, value}, " +
  "{field: urgency|importance|score, op: eq|gte|lte|gt|lt, value: integer}, {field: tag, op: has|lacks, value}"

export const RuleCondition = Schema.Union([
  FromCondition,
  ToCondition,
  CcCondition,
  RecipientsCondition,
  SubjectCondition,
  BodyCondition,
  HasAttachmentCondition,
  MailboxCondition,
  CategoryEqualsCondition,
  CategoryInCondition,
  UrgencyCondition,
  ImportanceCondition,
  ScoreCondition,
  SpamCondition,
  TagCondition
]).annotate({ identifier: "RuleCondition", message: `Expected ${conditionFormsHelp}` })
export type RuleCondition = typeof RuleCondition.Type
export type AddressCondition =
  | typeof FromCondition.Type
  | typeof ToCondition.Type
  | typeof CcCondition.Type
  | typeof RecipientsCondition.Type
export type TextCondition = typeof SubjectCondition.Type | typeof BodyCondition.Type

/** Regex conditions of a list, with their index. */
export const regexConditions = (
  conditions: ReadonlyArray<RuleCondition>
): ReadonlyArray<{ readonly index: number; readonly condition: AddressCondition | TextCondition }> => {
  const out: Array<{ readonly index: number; readonly condition: AddressCondition | TextCondition }> = []
  conditions.forEach((condition, index) => {
    if ("op" in condition && condition.op === "regex") out.push({ index, condition })
  })
  return out
}

/**
 * Every regex's problem, reported at `[i, "value"]` with a message naming the condition (1-based, as
 * a person counts): "condition 2: invalid regex: missing closing ): `(abc`"; then the rule's total
 * program size.
 */
const regexIssues = (
  syntax: RegexSyntax["Service"],
  conditions: ReadonlyArray<RuleCondition>
): ReadonlyArray<SchemaIssue.Issue> => {
  const issues: Array<SchemaIssue.Issue> = []
  let total = 0
  for (const { index, condition } of regexConditions(conditions)) {
    const verdict = syntax.check(condition.value, condition.caseSensitive)
    if (verdict._tag === "Invalid") {
      issues.push(
        new SchemaIssue.Pointer(
          [index, "value"],
          new SchemaIssue.InvalidValue({ message: `condition ${index + 1}: ${verdict.problem}` }, condition.value)
        )
      )
    } else {
      total += verdict.programSize
    }
  }
  if (issues.length === 0 && total > RuleLimits.ruleMaxRegexProgramSize) {
    issues.push(
      new SchemaIssue.InvalidValue(
        {
          message: `regexes too complex together: total program size ${total} exceeds ${RuleLimits.ruleMaxRegexProgramSize}`
        },
        conditions
      )
    )
  }
  return issues
}

const ConditionList = Schema.Array(RuleCondition).check(Schema.isBetweenLength(1, RuleLimits.maxConditions))

/** The conditions of a rule; decoding checks every regex with the `RegexSyntax` service. */
export const RuleConditions = ConditionList.pipe(
  Schema.middlewareDecoding((decoded) =>
    Effect.gen(function* () {
      const conditions = yield* decoded
      if (Option.isNone(conditions)) return conditions
      const issues = regexIssues(yield* RegexSyntax, conditions.value)
      const [first, ...rest] = issues
      if (first === undefined) return conditions
      return yield* Effect.fail(
        rest.length === 0 ? first : new SchemaIssue.Composite(ConditionList.ast, [first, ...rest], conditions.value)
      )
    })
  )
)

// ---------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------

export const MoveToAction = Schema.Struct({ type: Schema.Literal("moveTo"), mailbox: MailboxPath })
/**
 * Copies the message to a mailbox; the original stays where it is. Runs after the flag changes (the
 * copy carries them) and before a move or delete of the same rule. Idempotent: a message whose
 * Message-ID is already in the destination is not copied again.
 */
export const CopyToAction = Schema.Struct({ type: Schema.Literal("copyTo"), mailbox: MailboxPath })
export const MarkReadAction = Schema.Struct({ type: Schema.Literal("markRead") })
export const MarkUnreadAction = Schema.Struct({ type: Schema.Literal("markUnread") })
export const FlagAction = Schema.Struct({ type: Schema.Literal("flag") })
export const UnflagAction = Schema.Struct({ type: Schema.Literal("unflag") })
export const AddTagAction = Schema.Struct({ type: Schema.Literal("addTag"), tag: TagName })
export const RemoveTagAction = Schema.Struct({ type: Schema.Literal("removeTag"), tag: TagName })
export const SetPriorityAction = Schema.Struct({
  type: Schema.Literal("setPriority"),
  urgency: Schema.optionalKey(Level),
  importance: Schema.optionalKey(Level)
}).check(
  Schema.makeFilter((a) =>
    a.urgency !== undefined || a.importance !== undefined ? undefined : "setPriority needs urgency, importance or both"
  )
)
/** Moves the message to the account's special-use Trash mailbox. */
export const DeleteAction = Schema.Struct({ type: Schema.Literal("delete") })

export const RuleAction = Schema.Union([
  MoveToAction,
  CopyToAction,
  MarkReadAction,
  MarkUnreadAction,
  FlagAction,
  UnflagAction,
  AddTagAction,
  RemoveTagAction,
  SetPriorityAction,
  DeleteAction
]).annotate({
  identifier: "RuleAction",
  message:
    "Expected an action: {type: moveTo, mailbox} | {type: copyTo, mailbox} | {type: markRead} | {type: markUnread} | {type: flag} | " +
    "{type: unflag} | {type: addTag, tag} | {type: removeTag, tag} | " +
    "{type: setPriority, urgency?, importance?} | {type: delete}"
})
export type RuleAction = typeof RuleAction.Type
export type RuleActionType = RuleAction["type"]

// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range starts at U+0000
const nonAscii = /[^\u0000-\u007f]/

/**
 * Unicode-aware case folding used for all case-insensitive comparisons: NFC, lower case, and the
 * two full-folding cases that matter in practice (ß -> ss, final sigma -> sigma). Context-free:
 * the result for a string is the concatenation of the results for its code points.
 */
export const foldText = (s: string): string => {
  if (!nonAscii.test(s)) return s.toLowerCase()
  const lower = s.normalize("NFC").toLowerCase()
  return lower.includes("ß") || lower.includes("ς") ? lower.replace(/ß/g, "ss").replace(/ς/g, "σ") : lower
}

// tags and categories come from a small vocabulary and are compared on every evaluation
const foldKeyCache = new Map<string, string>()

/** Case-insensitive, NFC-normalised, trimmed comparison key for tags (and categories). */
export const foldKey = (s: string): string => {
  let key = foldKeyCache.get(s)
  if (key === undefined) {
    key = foldText(s.trim())
    if (foldKeyCache.size >= 4096) foldKeyCache.clear()
    foldKeyCache.set(s, key)
  }
  return key
}

/** A short text naming an action, used in messages: "moveTo 'Archive'", "addTag 'x'". */
export const describeAction = (action: RuleAction): string => {
  switch (action.type) {
    case "moveTo":
    case "copyTo":
      return `${action.type} '${action.mailbox}'`
    case "addTag":
    case "removeTag":
      return `${action.type} '${action.tag}'`
    case "setPriority": {
      const parts: Array<string> = []
      if (action.urgency !== undefined) parts.push(`urgency ${action.urgency}`)
      if (action.importance !== undefined) parts.push(`importance ${action.importance}`)
      return `setPriority ${parts.join(", ")}`
    }
    default:
      return action.type
  }
}

/** The aspect of a message an action changes; two actions on the same aspect may conflict. */
type Slot = "seen" | "flagged" | "location" | "priority" | `tag:${string}` | `copy:${string}`
const slotOf = (action: RuleAction): Slot => {
  switch (action.type) {
    case "markRead":
    case "markUnread":
      return "seen"
    case "flag":
    case "unflag":
      return "flagged"
    case "moveTo":
    case "delete":
      return "location"
    case "copyTo":
      return `copy:${action.mailbox.toUpperCase() === "INBOX" ? "INBOX" : action.mailbox}`
    case "setPriority":
      return "priority"
    case "addTag":
    case "removeTag":
      return `tag:${foldKey(action.tag)}`
  }
}

const sameAction = (a: RuleAction, b: RuleAction): boolean => {
  switch (a.type) {
    case "moveTo":
      return b.type === "moveTo" && a.mailbox === b.mailbox
    case "copyTo":
      return b.type === "copyTo" && slotOf(a) === slotOf(b)
    case "addTag":
    case "removeTag":
      return a.type === b.type && slotOf(a) === slotOf(b)
    case "setPriority":
      return b.type === "setPriority" && a.urgency === b.urgency && a.importance === b.importance
    default:
      return a.type === b.type
  }
}

/**
 * One rule may not contradict itself: markRead + markUnread, flag + unflag, two moves (moveTo or
 * delete), addTag + removeTag of the same tag, two setPriority, or the same action twice; and a
 * copyTo and a moveTo into the same mailbox (two copies there). copyTo + delete, and copyTo X +
 * moveTo Y, are fine: the copy is made first.
 * Each issue is reported at the index of the later action.
 */
export const actionConflicts = (
  actions: ReadonlyArray<RuleAction>
): ReadonlyArray<{ index: number; message: string }> => {
  const issues: Array<{ index: number; message: string }> = []
  const first = new Map<Slot, number>()
  actions.forEach((action, index) => {
    const slot = slotOf(action)
    if (action.type === "moveTo" || action.type === "copyTo") {
      const otherType = action.type === "moveTo" ? "copyTo" : "moveTo"
      const twin = actions.findIndex(
        (a, i) =>
          i < index &&
          a.type === otherType &&
          slotOf({ type: "copyTo", mailbox: a.mailbox }) === slotOf({ type: "copyTo", mailbox: action.mailbox })
      )
      const earlier = actions[twin]
      if (twin >= 0 && earlier !== undefined) {
        issues.push({
          index,
          message: `actions[${index}] (${describeAction(action)}) conflicts with actions[${twin}] (${describeAction(earlier)}): the mailbox would get two copies`
        })
        return
      }
    }
    const earlierIndex = first.get(slot)
    if (earlierIndex === undefined) {
      first.set(slot, index)
      return
    }
    const earlier = actions[earlierIndex]
    if (earlier === undefined) return
    const what = `actions[${index}] (${describeAction(action)})`
    const other = `actions[${earlierIndex}] (${describeAction(earlier)})`
    let message: string
    if (sameAction(earlier, action)) {
      message = `${what} duplicates ${other}`
    } else if (slot === "location") {
      message = `${what} conflicts with ${other}: a rule can move or delete a message only once`
    } else if (slot === "priority") {
      message = `${what} conflicts with ${other}: use one setPriority per rule`
    } else {
      message = `${what} conflicts with ${other}`
    }
    issues.push({ index, message })
  })
  return issues
}

export const RuleActions = Schema.Array(RuleAction).check(
  Schema.isBetweenLength(1, RuleLimits.maxActions),
  Schema.makeFilter((actions) =>
    actionConflicts(actions).map(({ index, message }) => ({ path: [index], issue: message }))
  )
)

// ---------------------------------------------------------------------------
// Rule
// ---------------------------------------------------------------------------

export const RuleName = Schema.String.check(nonBlank, Schema.isMaxLength(RuleLimits.nameMaxLength)).annotate({
  description: "1 to 200 characters"
})
export const MatchMode = Schema.Literals(["all", "any"]).annotate({
  description: "all: every condition must pass; any: at least one"
})
export const RulePriority = Schema.Int.check(
  Schema.isBetween({ minimum: RuleLimits.priorityMin, maximum: RuleLimits.priorityMax })
).annotate({ description: "rules run in ascending priority order (1 before 2)" })

export const RuleInput = Schema.Struct({
  name: RuleName,
  enabled: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))),
  match: MatchMode.pipe(Schema.withDecodingDefaultKey(Effect.succeed("all" as const))),
  priority: RulePriority,
  stopProcessing: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(false))).annotate({
    description: "when this rule matches, rules after it are not evaluated"
  }),
  conditions: RuleConditions,
  actions: RuleActions
}).annotate({ identifier: "RuleInput" })
export type RuleInput = typeof RuleInput.Type
export type RuleInputEncoded = typeof RuleInput.Encoded

/**
 * Parse options for untrusted rule input: report every problem and reject unknown keys (a typo
 * such as `negated` must not silently do nothing).
 */
export const ruleParseOptions = { errors: "all", onExcessProperty: "error" } as const
