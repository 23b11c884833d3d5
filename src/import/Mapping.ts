/**
 * From the old system's shapes to ours, pure (no I/O): rules, accounts, corrections, tags and
 * trusted senders. Each function returns what it mapped and, for everything it could not map, a
 * reason: the import reports those, it never drops one silently.
 */
import { Result, Schema } from "effect"
import { Host, Label, Password, type Security, Username } from "../contract/accounts/Account.ts"
import { categories, TAG_MAX_CHARS, TAGS_MAX } from "../contract/analysis/Analysis.ts"
import { normalizeTags } from "../emails/Emails.ts"
import {
  type RuleAction,
  type RuleCondition,
  RuleInput,
  type RuleInputEncoded,
  ruleParseOptions
} from "../contract/rules/Rule.ts"

// ---------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------

/** Condition keys of the old `conditions_json` (besides `match_mode`) and what each becomes. */
export const OldConditionKeys = [
  "sender_equals",
  "sender_contains",
  "sender_domain",
  "subject_contains",
  "subject_regex",
  "has_attachment",
  "body_contains"
] as const
/** Action keys of the old `actions_json`. */
export const OldActionKeys = [
  "move_to_folder",
  "mark_as_read",
  "mark_as_flagged",
  "apply_tag",
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

const truthy = (value: unknown): boolean | undefined =>
  value === true || value === 1 || value === "true"
    ? true
    : value === false || value === 0 || value === "false"
      ? false
      : undefined

const levelOf = (value: unknown): 1 | 2 | 3 | undefined => {
  if (value === 1 || value === "1" || value === "low" || value === "niedrig") return 1
  if (value === 2 || value === "2" || value === "medium" || value === "mittel") return 2
  if (value === 3 || value === "3" || value === "high" || value === "hoch") return 3
  return undefined
}

const textValue = (key: string, value: unknown): Result.Result<string, string> =>
  typeof value === "string" && value.trim().length > 0
    ? Result.succeed(value)
    : Result.fail(`condition ${key}: expected a non-empty text, found ${shown(value)}`)

/** One old condition -> ours, or why not. */
const mapCondition = (key: string, value: unknown): Result.Result<RuleCondition, string> => {
  switch (key) {
    case "sender_equals":
      return Result.map(textValue(key, value), (v) => ({ field: "from", op: "equals", value: v.trim() }))
    case "sender_contains":
      return Result.map(textValue(key, value), (v) => ({ field: "from", op: "contains", value: v }))
    case "sender_domain":
      return Result.map(textValue(key, value), (v) => ({ field: "from", op: "domain", value: v.trim() }))
    case "subject_contains":
      return Result.map(textValue(key, value), (v) => ({ field: "subject", op: "contains", value: v }))
    case "subject_regex":
      // validated with re2js when the whole rule is decoded (RuleConditions' regex check)
      return Result.map(textValue(key, value), (v) => ({ field: "subject", op: "regex", value: v }))
    case "body_contains":
      return Result.map(textValue(key, value), (v) => ({ field: "body", op: "contains", value: v }))
    case "has_attachment": {
      const flag = truthy(value)
      return flag === undefined
        ? Result.fail(`condition has_attachment: expected true or false, found ${shown(value)}`)
        : Result.succeed({ field: "hasAttachment", value: flag })
    }
    default:
      return Result.fail(`condition ${key} (${shown(value)}) has no equivalent here`)
  }
}

interface MappedActions {
  readonly actions: ReadonlyArray<RuleAction>
  readonly stopProcessing: boolean
  readonly problems: ReadonlyArray<string>
}

const mapActions = (actions: Readonly<Record<string, unknown>>): MappedActions => {
  const out: Array<RuleAction> = []
  const problems: Array<string> = []
  let stopProcessing = false
  for (const [key, value] of Object.entries(actions)) {
    const flag = truthy(value)
    switch (key) {
      case "move_to_folder":
        if (typeof value === "string" && value.trim().length > 0) out.push({ type: "moveTo", mailbox: value })
        else if (value !== null && value !== "")
          problems.push(`action move_to_folder: expected a folder, found ${shown(value)}`)
        break
      case "mark_as_read":
      case "mark_as_flagged":
      case "delete":
      case "stop_processing":
        if (flag === undefined) {
          problems.push(`action ${key}: expected true or false, found ${shown(value)}`)
        } else if (flag) {
          if (key === "mark_as_read") out.push({ type: "markRead" })
          else if (key === "mark_as_flagged") out.push({ type: "flag" })
          else if (key === "delete") out.push({ type: "delete" })
          else stopProcessing = true
        }
        // false: the old rule does not do it; nothing to carry over
        break
      case "apply_tag":
        if (typeof value === "string" && value.trim().length > 0) out.push({ type: "addTag", tag: value.trim() })
        else if (value !== null && value !== "")
          problems.push(`action apply_tag: expected a tag, found ${shown(value)}`)
        break
      case "set_priority": {
        const level = levelOf(value)
        if (level === undefined) {
          problems.push(`action set_priority: ${shown(value)} is not low/medium/high or 1-3`)
        } else {
          out.push({ type: "setPriority", urgency: level, importance: level })
        }
        break
      }
      default:
        problems.push(`action ${key} (${shown(value)}) has no equivalent here`)
    }
  }
  return { actions: out, stopProcessing, problems }
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

  const modeValue = old.conditions["match_mode"] ?? "all"
  const match = modeValue === "all" || modeValue === "any" ? modeValue : undefined
  if (match === undefined) reasons.push(`match_mode ${shown(modeValue)} is neither all nor any`)

  const conditions: Array<RuleCondition> = []
  for (const [key, value] of Object.entries(old.conditions)) {
    if (key === "match_mode") continue
    const mapped = mapCondition(key, value)
    if (Result.isSuccess(mapped)) conditions.push(mapped.success)
    else reasons.push(mapped.failure)
    if (key === "sender_domain")
      notes.push("sender_domain also matches subdomains here (mail.example.com for example.com)")
  }
  if (conditions.length === 0 && reasons.length === 0) reasons.push("the rule has no condition")

  const actions = mapActions(old.actions)
  reasons.push(...actions.problems)
  if (actions.actions.length === 0 && actions.problems.length === 0) reasons.push("the rule has no action")
  if (actions.actions.some((a) => a.type === "delete")) notes.push("delete moves to the account's Trash folder")

  if (reasons.length > 0 || match === undefined) return { _tag: "Unmapped", reasons }

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
  const decoded = Schema.decodeUnknownResult(RuleInput)(candidate, ruleParseOptions)
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

/**
 * The old account's plain fields (already decrypted: host, username; the password is checked for
 * length only and never returned here).
 */
export const mapOldAccount = (old: {
  readonly name: string | null
  readonly host: string
  readonly port: number | null
  readonly encryption: string | null
  readonly username: string
  readonly passwordLength: number
  readonly enabled: boolean
  readonly fetchIntervalMinutes: number | null
  readonly foldersJson: string | null
}): AccountMapping => {
  const reasons: Array<string> = []
  const notes: Array<string> = []
  const host = old.host.trim().toLowerCase().replace(/\.$/, "")
  const security = securityOf(old.encryption)
  if (!valid(Host, host)) reasons.push("the IMAP server is not a valid host name")
  if (security === undefined) reasons.push(`IMAP encryption ${shown(old.encryption)} is not SSL, STARTTLS or none`)
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

  let syncIntervalMinutes: number | null = 15
  if (old.fetchIntervalMinutes !== null) {
    if (old.fetchIntervalMinutes >= 1 && old.fetchIntervalMinutes <= 1440) {
      syncIntervalMinutes = Math.round(old.fetchIntervalMinutes)
    } else {
      notes.push(`fetch interval ${old.fetchIntervalMinutes} min is outside 1-1440: syncs every 15 min`)
    }
  }
  const folders = parseJsonColumn(old.foldersJson, "folders_json")
  if (Result.isSuccess(folders) && Array.isArray(folders.success) && folders.success.length > 0) {
    notes.push(`the old folder selection (${folders.success.length} folders) is not kept: every folder is synced`)
  }
  if (!old.enabled) notes.push("disabled in the old system: imported disabled")
  return {
    _tag: "Mapped",
    account: { label, host, port, security, username: old.username, syncIntervalMinutes, disabled: !old.enabled },
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

/** `<id@host>` as our sync stores Message-IDs (src/sync/mime.ts), or null. */
export const normaliseMessageId = (value: string | null): string | null => {
  if (value === null) return null
  const bracketed = /<([^<>\s]+)>/.exec(value)
  if (bracketed?.[1] !== undefined) return `<${bracketed[1]}>`
  const bare = value.trim().split(/\s+/)[0] ?? ""
  return bare.includes("@") && !/[<>]/.test(bare) ? `<${bare}>` : null
}

const knownCategories: ReadonlySet<string> = new Set(categories)

export const mapOldCorrection = (old: {
  readonly messageId: string | null
  readonly folder: string | null
  readonly uid: number | null
  readonly urgency: number | null
  readonly importance: number | null
  readonly category: string | null
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
  const hasOverride = old.urgency !== null || old.importance !== null || (old.category ?? "").trim() !== ""
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
