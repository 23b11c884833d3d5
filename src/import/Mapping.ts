/**
 * From the old system's shapes to ours, pure (no I/O): rules, accounts, corrections, tags and
 * trusted senders. Each function returns what it mapped and, for everything it could not map, a
 * reason: the import reports those, it never drops one silently.
 */
import { Result, Schema } from "effect"
import { RE2JS } from "re2js"
import { Host, Label, Password, type Security, Username } from "../contract/accounts/Account.ts"
import { categories, TAG_MAX_CHARS, TAGS_MAX } from "../contract/analysis/Analysis.ts"
import { normalizeTags } from "../emails/EmailStore.ts"
import {
  type RuleAction,
  type RuleCondition,
  type RuleInput,
  type RuleInputEncoded,
  ruleParseOptions
} from "../contract/rules/Rule.ts"
import { CheckedRuleInput } from "../rules/regex.ts"

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/**
 * Condition keys of the old `conditions_json` (besides `match_mode`) that the old rules engine
 * evaluates (upstream `src/auto_rules_engine.py`, `_match_rule`).
 */
export const OldConditionKeys = [
  "sender_equals",
  "sender_contains",
  "sender_not_contains",
  "sender_domain",
  "subject_equals",
  "subject_contains",
  "subject_not_contains",
  "subject_regex",
  "body_contains",
  "body_not_contains",
  "body_regex",
  "has_attachment",
  "folder_equals",
  "has_tag",
  "not_has_tag",
  "ai_suggested_tag",
  "ai_confidence_threshold"
] as const
/** Action keys of the old `actions_json` that the old engine reads (`_execute_rule`, `process_email`). */
export const OldActionKeys = [
  "move_to_folder",
  "mark_as_read",
  "mark_as_flagged",
  "apply_tag",
  "tag_color",
  "set_priority",
  "delete",
  "stop_processing"
] as const

export interface OldRuleInput {
  readonly name: string | null
  readonly active: boolean
  readonly conditions: unknown
  readonly actions: unknown
}

export type RuleMapping =
  | { readonly _tag: "Mapped"; readonly rule: RuleInput; readonly notes: ReadonlyArray<string> }
  | { readonly _tag: "Unmapped"; readonly reasons: ReadonlyArray<string> }

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const shown = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

/** JSON text -> value, or the reason it is not JSON. */
export const parseJsonColumn = (text: string | null, what: string): Result.Result<unknown, string> => {
  if (text === null || text.trim() === "") return Result.succeed({})
  try {
    return Result.succeed(JSON.parse(text))
  } catch {
    return Result.fail(`${what} is not valid JSON`)
  }
}

/** Python's truthiness, which the old engine applies to its yes/no actions (`if actions.get(...)`). */
export const pythonTruthy = (value: unknown): boolean => {
  if (value === null || value === undefined || value === false || value === 0 || value === "") return false
  if (Array.isArray(value)) return value.length > 0
  if (isRecord(value)) return Object.keys(value).length > 0
  return true
}

const textValue = (key: string, value: unknown): Result.Result<string, string> =>
  typeof value === "string" && value.trim().length > 0
    ? Result.succeed(value)
    : Result.fail(`condition ${key}: expected a non-empty text, found ${shown(value)}`)

/**
 * "The sender has no display name". The old engine compared against its sender text, which is
 * `"Name" <address>` when the mail has a display name and the bare address otherwise; our display
 * text is `Name <address>`, so " <" occurs in it exactly when there is a display name.
 */
const noDisplayName: RuleCondition = { field: "from", op: "contains", value: " <", negate: true }

/**
 * Regex syntax whose meaning differs between Python's `re` (the old engine) and RE2 (ours): the
 * classes `\w \d \s \b` (and their negations) are Unicode-aware in Python and ASCII-only in RE2;
 * `\p \P \Q \E \z \C \x{..}` and the inline flag `U` exist only in RE2 (Python refused the
 * pattern, so the old rule never matched); `{,n}` is a repeat in Python and literal text in RE2.
 */
export const pythonRegexDifference = (pattern: string): string | undefined => {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== "\\") continue
    const next = pattern[i + 1] ?? ""
    if ("wWdDsSbB".includes(next) && next !== "") {
      return `\\${next} matches Unicode characters in the old system (Python) but only ASCII here`
    }
    if ("pPQEzC".includes(next) && next !== "") {
      return `\\${next} is not valid in the old system's regexes (the old rule never matched)`
    }
    if (next === "x" && pattern[i + 2] === "{") return "\\x{...} is not valid in the old system's regexes"
    i++
  }
  if (/\{,\d*\}/.test(pattern)) return "{,n} repeats in the old system (Python) but is literal text here"
  if (/\(\?[a-zA-Z]*U/.test(pattern)) return "the inline flag U is not valid in the old system's regexes"
  return undefined
}

/** A sender_contains needle that could match here across the display name's end but not there. */
const spansNameEnd = (needle: string): boolean =>
  needle.indexOf(" <") > 0 || (needle.endsWith(" ") && needle.trim().length > 0)

interface MappedCondition {
  readonly conditions: ReadonlyArray<RuleCondition>
  readonly notes: ReadonlyArray<string>
}

const one = (condition: RuleCondition, ...notes: ReadonlyArray<string>): Result.Result<MappedCondition, string> =>
  Result.succeed({ conditions: [condition], notes })

const notExactly = (key: string, why: string): Result.Result<MappedCondition, string> =>
  Result.fail(`condition ${key}: not exactly mappable: ${why}`)

/** One old condition -> ours (one or two conditions that must all hold), or why not. */
const mapCondition = (key: string, value: unknown): Result.Result<MappedCondition, string> => {
  switch (key) {
    case "sender_equals":
      return Result.flatMap(textValue(key, value), (v) => {
        if (/[<>"]/.test(v) || v !== v.trim()) {
          return notExactly(key, "the old system compared it with its whole sender text, which we do not keep")
        }
        return Result.succeed({
          conditions: [{ field: "from", op: "equals", value: v }, noDisplayName],
          notes: [
            "sender_equals compared the whole old sender text, so it matched only mail without a display name; " +
              "imported as 'address equals' and 'no display name'"
          ]
        })
      })
    case "sender_domain":
      return Result.flatMap(textValue(key, value), (v) => {
        if (/[@<>"\s]/.test(v)) {
          return notExactly(key, `the old system compared ${shown(v)} with the text after the last @ of its sender`)
        }
        return Result.succeed({
          conditions: [noDisplayName, { field: "from", op: "regex", value: `@${RE2JS.quote(v)}$` }],
          notes: [
            "sender_domain compared the text after the last @ of the old sender text, so it matched only mail " +
              "without a display name and only this exact domain (no subdomains); imported as that"
          ]
        })
      })
    case "sender_contains":
    case "sender_not_contains":
      return Result.flatMap(textValue(key, value), (v) => {
        if (v.includes('"')) return notExactly(key, "the old sender text quoted the display name, ours does not")
        if (spansNameEnd(v)) {
          return notExactly(
            key,
            "it could match across the end of the display name here but not in the old sender text"
          )
        }
        return one({
          field: "from",
          op: "contains",
          value: v,
          ...(key === "sender_not_contains" ? { negate: true } : {})
        })
      })
    case "subject_equals":
      // our `equals` trims both sides; the old comparison did not, an anchored literal regex does not either
      return Result.map(textValue(key, value), (v) => ({
        conditions: [{ field: "subject", op: "regex", value: `^${RE2JS.quote(v)}$` }],
        notes: ["subject_equals imported as a regex matching the whole subject (spaces at the ends count, as before)"]
      }))
    case "subject_contains":
    case "subject_not_contains":
    case "body_contains":
    case "body_not_contains":
      return Result.flatMap(textValue(key, value), (v) =>
        one({
          field: key.startsWith("subject") ? "subject" : "body",
          op: "contains",
          value: v,
          ...(key.endsWith("not_contains") ? { negate: true } : {})
        })
      )
    case "subject_regex":
    case "body_regex":
      // validated with re2js when the whole rule is decoded (RuleConditions' regex check)
      return Result.flatMap(textValue(key, value), (v) => {
        const difference = pythonRegexDifference(v)
        if (difference !== undefined) return notExactly(key, difference)
        const field = key === "subject_regex" ? "subject" : "body"
        return field === "body"
          ? one(
              { field, op: "regex", value: v },
              "body_regex looks at the first 16 KiB of the text body here (the old system: the whole body)"
            )
          : one({ field, op: "regex", value: v })
      })
    case "has_attachment":
      // the old engine compared with ==, so True/False and 1/0 work and a text never matches
      if (value === true || value === 1) return one({ field: "hasAttachment", value: true })
      if (value === false || value === 0) return one({ field: "hasAttachment", value: false })
      return Result.fail(`condition has_attachment: ${shown(value)} is not true or false (the old rule never matched)`)
    case "folder_equals":
      return Result.flatMap(textValue(key, value), (v) =>
        v.toUpperCase() === "INBOX" && v !== "INBOX"
          ? notExactly(key, `the old comparison was case-sensitive, so ${shown(v)} never matched INBOX`)
          : one({ field: "mailbox", op: "equals", value: v })
      )
    case "has_tag":
    case "not_has_tag":
      return Result.flatMap(textValue(key, value), (v) =>
        one(
          { field: "tag", op: key === "has_tag" ? "has" : "lacks", value: v.trim() },
          `${key} compares tags case-insensitively here (the old system: exact name)`
        )
      )
    case "ai_suggested_tag":
      return Result.fail(
        `condition ai_suggested_tag (${shown(value)}) has no equivalent here (the old AI's tag suggestions)`
      )
    case "ai_confidence_threshold":
      return Result.fail(
        `condition ai_confidence_threshold (${shown(value)}) has no equivalent here ` +
          "(the old engine counted it as a condition of its own, so an 'all' rule with it never matched)"
      )
    default:
      return Result.fail(`condition ${key} (${shown(value)}) has no equivalent here`)
  }
}

interface MappedActions {
  readonly actions: ReadonlyArray<RuleAction>
  readonly stopProcessing: boolean
  readonly problems: ReadonlyArray<string>
  readonly notes: ReadonlyArray<string>
}

const mapActions = (actions: Readonly<Record<string, unknown>>): MappedActions => {
  const out: Array<RuleAction> = []
  const problems: Array<string> = []
  const notes: Array<string> = []
  let stopProcessing = false
  for (const [key, value] of Object.entries(actions)) {
    switch (key) {
      case "move_to_folder":
        if (typeof value === "string" && value.trim().length > 0) out.push({ type: "moveTo", mailbox: value })
        else if (value === null || value === "") notes.push("move_to_folder is empty: the old move never happened")
        else problems.push(`action move_to_folder: expected a folder, found ${shown(value)}`)
        break
      case "mark_as_read":
      case "mark_as_flagged":
      case "delete":
      case "stop_processing": {
        const flag = pythonTruthy(value)
        if (typeof value !== "boolean" && value !== null && value !== 0 && value !== 1) {
          notes.push(
            `${key} ${shown(value)} counts as ${flag ? "yes" : "no"} (the old system tested Python truthiness)`
          )
        }
        if (flag) {
          if (key === "mark_as_read") out.push({ type: "markRead" })
          else if (key === "mark_as_flagged") out.push({ type: "flag" })
          else if (key === "delete") out.push({ type: "delete" })
          else stopProcessing = true
        }
        break
      }
      case "apply_tag":
        if (typeof value === "string" && value.trim().length > 0) out.push({ type: "addTag", tag: value.trim() })
        else if (value === null || value === "") notes.push("apply_tag is empty: the old rule applied no tag")
        else problems.push(`action apply_tag: expected a tag, found ${shown(value)}`)
        break
      case "tag_color":
        notes.push(`tag_color ${shown(value)} is not kept (tags have no colour here)`)
        break
      case "set_priority":
        // the old engine acted on "low" and "high" only; anything else changed nothing
        if (value === "low") out.push({ type: "setPriority", urgency: 1, importance: 1 })
        else if (value === "high") out.push({ type: "setPriority", urgency: 3, importance: 3 })
        else notes.push(`set_priority ${shown(value)} changed nothing in the old system (only low and high did)`)
        break
      default:
        problems.push(`action ${key} (${shown(value)}) has no equivalent here`)
    }
  }
  if (out.some((a) => a.type === "delete")) {
    notes.push("the old delete only hid the mail in the old app; here delete moves it to the account's Trash folder")
  }
  return { actions: out, stopProcessing, problems, notes }
}

/** Our decode error, one line per issue, without the schema's type dump. */
const schemaProblems = (error: Schema.SchemaError): ReadonlyArray<string> =>
  error.message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)

/**
 * Maps one old rule. Mapped only when every condition and every action has an equivalent and the
 * result is a valid rule of ours (re2js regex, no contradicting actions, limits); otherwise
 * Unmapped with every reason: a rule imported with a condition left out would match other mail
 * than before, so a partial rule is never imported.
 */
export const mapOldRule = (old: OldRuleInput, priority: number): RuleMapping => {
  const reasons: Array<string> = []
  const notes: Array<string> = []
  if (!isRecord(old.conditions)) return { _tag: "Unmapped", reasons: ["conditions_json is not an object"] }
  if (!isRecord(old.actions)) return { _tag: "Unmapped", reasons: ["actions_json is not an object"] }

  // the old engine: "any" is OR, every other value (and none) is AND
  const modeValue = old.conditions["match_mode"]
  let match: "all" | "any" = modeValue === "any" ? "any" : "all"
  if (modeValue !== undefined && modeValue !== "all" && modeValue !== "any") {
    notes.push(`match_mode ${shown(modeValue)} meant all in the old system`)
  }

  const conditions: Array<RuleCondition> = []
  const oldKeys = Object.keys(old.conditions).filter((key) => key !== "match_mode")
  for (const key of oldKeys) {
    const mapped = mapCondition(key, old.conditions[key])
    if (Result.isFailure(mapped)) {
      reasons.push(mapped.failure)
      continue
    }
    const { conditions: ours, notes: conditionNotes } = mapped.success
    notes.push(...conditionNotes)
    if (ours.length > 1 && match === "any") {
      if (oldKeys.length > 1) {
        reasons.push(
          `condition ${key}: not exactly mappable in an 'any' rule: it becomes two conditions that must both ` +
            "hold, and a rule here has one match mode for all its conditions"
        )
        continue
      }
      match = "all"
    }
    conditions.push(...ours)
  }
  if (oldKeys.length === 0) reasons.push("the rule has no condition (the old engine never matched it)")

  const actions = mapActions(old.actions)
  reasons.push(...actions.problems)
  notes.push(...actions.notes)
  if (actions.actions.length === 0 && actions.problems.length === 0) reasons.push("the rule has no action")

  if (reasons.length > 0) return { _tag: "Unmapped", reasons }

  let name = old.name?.trim() ?? ""
  if (name === "") name = "Imported rule"
  if (name.length > 200) {
    notes.push("name cut to 200 characters")
    name = name.slice(0, 200)
  }
  const candidate: RuleInputEncoded = {
    name,
    enabled: old.active,
    match,
    priority,
    stopProcessing: actions.stopProcessing,
    conditions,
    actions: actions.actions
  }
  const decoded = Schema.decodeUnknownResult(CheckedRuleInput)(candidate, ruleParseOptions)
  if (Result.isFailure(decoded)) return { _tag: "Unmapped", reasons: schemaProblems(decoded.failure) }
  return { _tag: "Mapped", rule: decoded.success, notes }
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

export interface AccountFields {
  readonly label: string
  readonly host: string
  readonly port: number
  readonly security: Security
  readonly username: string
  readonly syncIntervalMinutes: number | null
  readonly disabled: boolean
}

export type AccountMapping =
  | { readonly _tag: "Mapped"; readonly account: AccountFields; readonly notes: ReadonlyArray<string> }
  | { readonly _tag: "Unmapped"; readonly reasons: ReadonlyArray<string> }

const securityOf = (value: string | null): Security | undefined => {
  const v = (value ?? "").trim().toLowerCase()
  if (v === "ssl" || v === "tls" || v === "ssl/tls" || v === "imaps") return "tls"
  if (v === "starttls") return "starttls"
  if (v === "none" || v === "plain" || v === "") return "none"
  return undefined
}

const valid = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, value: unknown) =>
  Result.isSuccess(Schema.decodeUnknownResult(schema)(value))

/** Our interval for an imported account: the old system had no per-account one. */
export const importedSyncIntervalMinutes = 15

const folderList = (text: string | null, what: string): number => {
  const parsed = parseJsonColumn(text, what)
  return Result.isSuccess(parsed) && Array.isArray(parsed.success) ? parsed.success.length : 0
}

/**
 * The old account's plain fields (already decrypted: host, username; the password is checked for
 * length only and never returned here).
 */
export const mapOldAccount = (old: {
  readonly name: string | null
  readonly authType: string | null
  readonly host: string
  readonly port: number | null
  readonly encryption: string | null
  readonly username: string
  readonly passwordLength: number
  readonly enabled: boolean
  readonly includeFoldersJson: string | null
  readonly excludeFoldersJson: string | null
}): AccountMapping => {
  const authType = (old.authType ?? "imap").trim().toLowerCase()
  if (authType !== "imap") {
    return {
      _tag: "Unmapped",
      reasons: [`sign-in ${shown(old.authType)} is not IMAP with a password (OAuth and POP3 are not supported here)`]
    }
  }
  const reasons: Array<string> = []
  const notes: Array<string> = []
  const host = old.host.trim().toLowerCase().replace(/\.$/, "")
  const security = securityOf(old.encryption)
  if (!valid(Host, host)) reasons.push("the IMAP server is not a valid host name")
  if (security === undefined) reasons.push(`IMAP encryption ${shown(old.encryption)} is not SSL, STARTTLS or NONE`)
  const port = old.port ?? (security === "tls" ? 993 : 143)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) reasons.push(`port ${port} is not a valid port`)
  if (!valid(Username, old.username)) reasons.push("the IMAP username is empty or longer than 320 characters")
  if (!valid(Password, "x".repeat(Math.max(0, old.passwordLength)))) {
    reasons.push("the IMAP password is empty or longer than 1024 characters")
  }
  if (reasons.length > 0 || security === undefined) return { _tag: "Unmapped", reasons }

  let label = (old.name ?? "").trim() || old.username
  if (label.length > 100) {
    notes.push("name cut to 100 characters")
    label = label.slice(0, 100)
  }
  if (!valid(Label, label)) label = host.slice(0, 100)

  notes.push(`the old system had no per-account fetch interval: syncs every ${importedSyncIntervalMinutes} min`)
  const included = folderList(old.includeFoldersJson, "fetch_include_folders")
  const excluded = folderList(old.excludeFoldersJson, "fetch_exclude_folders")
  if (included > 0 || excluded > 0) {
    notes.push(`the old folder filter (${included} included, ${excluded} excluded) is not kept: every folder is synced`)
  }
  if (!old.enabled) notes.push("disabled in the old system: imported disabled")
  return {
    _tag: "Mapped",
    account: {
      label,
      host,
      port,
      security,
      username: old.username,
      syncIntervalMinutes: importedSyncIntervalMinutes,
      disabled: !old.enabled
    },
    notes
  }
}

// ---------------------------------------------------------------------------
// Corrections
// ---------------------------------------------------------------------------

export interface CorrectionFields {
  readonly messageId: string | null
  readonly mailbox: string | null
  readonly uid: number | null
  readonly urgency: number | null
  readonly importance: number | null
  readonly category: string | null
  readonly tags: ReadonlyArray<string> | null
}

export type CorrectionMapping =
  | { readonly _tag: "Mapped"; readonly correction: CorrectionFields; readonly notes: ReadonlyArray<string> }
  | { readonly _tag: "Unmapped"; readonly reasons: ReadonlyArray<string> }
  /** The old row carries no correction by the user (only the old AI's results): nothing to import. */
  | { readonly _tag: "NotACorrection" }

/**
 * The sync's cap on a Message-ID's length (`MAX_MESSAGE_ID` in src/sync/mime.ts, not exported there):
 * an id the sync cut must be cut the same way here to be found. The old column is VARCHAR(512), but
 * SQLite does not enforce lengths.
 */
export const syncMessageIdCap = 998

/** `<id@host>` as our sync stores Message-IDs (src/sync/mime.ts), cut like it, or null. */
export const normaliseMessageId = (value: string | null): string | null => {
  if (value === null) return null
  const bracketed = /<([^<>\s]+)>/.exec(value)
  if (bracketed?.[1] !== undefined) return `<${bracketed[1].slice(0, syncMessageIdCap)}>`
  const bare = value.trim().split(/\s+/)[0] ?? ""
  return bare.includes("@") && !/[<>]/.test(bare) ? `<${bare.slice(0, syncMessageIdCap)}>` : null
}

const knownCategories: ReadonlySet<string> = new Set(categories)

export const mapOldCorrection = (old: {
  readonly messageId: string | null
  readonly folder: string | null
  readonly uid: number | null
  readonly urgency: number | null
  readonly importance: number | null
  readonly category: string | null
  readonly spam?: boolean | null
  readonly tags: ReadonlyArray<string>
}): CorrectionMapping => {
  const notes: Array<string> = []
  const level = (value: number | null, what: string): number | null => {
    if (value === null) return null
    if (value === 1 || value === 2 || value === 3) return value
    notes.push(`${what} ${value} is outside 1-3: not kept`)
    return null
  }
  const urgency = level(old.urgency, "urgency")
  const importance = level(old.importance, "importance")
  let category: string | null = null
  if (old.category !== null && old.category.trim() !== "") {
    const candidate = old.category.trim().toLowerCase()
    if (knownCategories.has(candidate)) category = candidate
    // the old categories are action kinds (aktion_erforderlich, dringend, nur_information), ours are topics
    else notes.push(`category '${old.category}' has no equivalent here (ours: ${categories.join(", ")}): not kept`)
  }
  let tags: Array<string> | null = null
  if (old.tags.length > 0) {
    const normalised = normalizeTags(old.tags)
    const fitting = normalised.filter((tag) => tag.length <= TAG_MAX_CHARS)
    for (const tag of normalised) {
      if (tag.length > TAG_MAX_CHARS)
        notes.push(`tag '${tag.slice(0, 40)}...' is longer than ${TAG_MAX_CHARS} characters: not kept`)
    }
    if (fitting.length > TAGS_MAX)
      notes.push(`${fitting.length - TAGS_MAX} tags past the first ${TAGS_MAX} are not kept`)
    tags = fitting.slice(0, TAGS_MAX)
    if (tags.length === 0) tags = null
  }
  const spam = old.spam ?? null
  if (spam !== null) notes.push(`the spam verdict (${spam ? "spam" : "not spam"}) is not kept: no spam correction here`)
  const hasOverride =
    old.urgency !== null || old.importance !== null || (old.category ?? "").trim() !== "" || spam !== null
  if (!hasOverride && old.tags.length === 0) return { _tag: "NotACorrection" }
  if (urgency === null && importance === null && category === null && tags === null) {
    return { _tag: "Unmapped", reasons: notes }
  }
  const messageId = normaliseMessageId(old.messageId)
  const mailbox = old.folder !== null && old.folder !== "" ? old.folder : null
  const uid = old.uid !== null && Number.isInteger(old.uid) && old.uid > 0 ? old.uid : null
  if (messageId === null && (mailbox === null || uid === null)) {
    return { _tag: "Unmapped", reasons: ["the mail has neither a Message-ID nor a folder and UID to find it by"] }
  }
  return {
    _tag: "Mapped",
    correction: {
      messageId,
      mailbox: messageId === null ? mailbox : null,
      uid: messageId === null ? uid : null,
      urgency,
      importance,
      category,
      tags
    },
    notes
  }
}

/** Why the old trusted senders have no counterpart (reported once per entry). */
export const trustedSenderReason =
  "no trusted-sender list here: every message is fetched and analysed, so the entry has nothing to switch on " +
  "(re-create it as a rule if it should tag or prioritise that sender)"
