/**
 * The rule form's state and its conversion to and from the API's rule (src/rules/Rule.ts): people
 * pick a field, an operator and a value per condition, and an action type with its argument; no JSON.
 * Every form value is a string while editing (inputs hold strings); `toRuleInput` turns the draft into
 * the wire rule or lists what is missing, per row, before anything is sent.
 */
import type { RuleActionWire, RuleConditionWire, RuleInputWire } from "./types.ts"

export const addressFields = ["from", "to", "cc", "recipients"] as const
export const textFields = ["subject", "body"] as const
export const levelFields = ["urgency", "importance"] as const
export const conditionFields = [
  ...addressFields,
  ...textFields,
  "hasAttachment",
  "spam",
  "mailbox",
  "category",
  ...levelFields,
  "score",
  "tag"
] as const
export type ConditionField = (typeof conditionFields)[number]

export const compareOps = ["eq", "gte", "lte", "gt", "lt"] as const

/** The operators a field offers, in the order the form lists them; empty: the field takes a yes/no value. */
export const opsFor = (field: ConditionField): ReadonlyArray<string> => {
  switch (field) {
    case "from":
    case "to":
    case "cc":
    case "recipients":
      return ["contains", "equals", "domain", "regex"]
    case "subject":
    case "body":
      return ["contains", "equals", "regex"]
    case "mailbox":
      return ["equals"]
    case "category":
      return ["equals", "in"]
    case "urgency":
    case "importance":
    case "score":
      return compareOps
    case "tag":
      return ["has", "lacks"]
    case "hasAttachment":
    case "spam":
      return []
  }
}

/** The values a number field accepts (urgency and importance 1-3, score 3-9). */
export const rangeFor = (field: ConditionField): { readonly min: number; readonly max: number } | null =>
  field === "urgency" || field === "importance" ? { min: 1, max: 3 } : field === "score" ? { min: 3, max: 9 } : null

export const takesCase = (field: ConditionField): boolean =>
  (addressFields as ReadonlyArray<string>).includes(field) || (textFields as ReadonlyArray<string>).includes(field)

export interface ConditionDraft {
  readonly key: number
  readonly field: ConditionField
  readonly op: string
  /** Text, number, "true"/"false", or for `category in` the categories joined by commas. */
  readonly value: string
  readonly caseSensitive: boolean
  readonly negate: boolean
}

export const actionTypes = [
  "moveTo",
  "copyTo",
  "markRead",
  "markUnread",
  "flag",
  "unflag",
  "addTag",
  "removeTag",
  "setPriority",
  "delete"
] as const
export type ActionType = (typeof actionTypes)[number]

export interface ActionDraft {
  readonly key: number
  readonly type: ActionType
  /** moveTo/copyTo: mailbox; addTag/removeTag: tag. */
  readonly argument: string
  /** setPriority: "" (unchanged) or "1".."3". */
  readonly urgency: string
  readonly importance: string
}

export interface RuleDraft {
  readonly name: string
  readonly enabled: boolean
  readonly match: "all" | "any"
  readonly priority: string
  readonly stopProcessing: boolean
  readonly conditions: ReadonlyArray<ConditionDraft>
  readonly actions: ReadonlyArray<ActionDraft>
}

let nextKey = 1
export const freshKey = (): number => nextKey++

export const newCondition = (field: ConditionField = "from"): ConditionDraft => ({
  key: freshKey(),
  field,
  op: opsFor(field)[0] ?? "",
  value: field === "hasAttachment" || field === "spam" ? "true" : "",
  caseSensitive: false,
  negate: false
})

/** Changing the field keeps the value when it still makes sense and resets the operator when it does not. */
export const withField = (draft: ConditionDraft, field: ConditionField): ConditionDraft => {
  const ops = opsFor(field)
  const booleanField = field === "hasAttachment" || field === "spam"
  const numeric = rangeFor(field) !== null
  const sameKind = (rangeFor(draft.field) !== null) === numeric && !booleanField
  return {
    ...draft,
    field,
    op: ops.includes(draft.op) ? draft.op : (ops[0] ?? ""),
    value: booleanField ? "true" : sameKind ? draft.value : "",
    caseSensitive: takesCase(field) ? draft.caseSensitive : false
  }
}

export const newAction = (type: ActionType = "moveTo"): ActionDraft => ({
  key: freshKey(),
  type,
  argument: "",
  urgency: "",
  importance: ""
})

export const emptyDraft = (): RuleDraft => ({
  name: "",
  enabled: true,
  match: "all",
  priority: "100",
  stopProcessing: false,
  conditions: [newCondition()],
  actions: [newAction()]
})

const splitList = (value: string): Array<string> =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item.length > 0)

export const fromRule = (rule: RuleInputWire): RuleDraft => ({
  name: rule.name,
  enabled: rule.enabled ?? true,
  match: rule.match ?? "all",
  priority: String(rule.priority),
  stopProcessing: rule.stopProcessing ?? false,
  conditions: rule.conditions.map((condition): ConditionDraft => {
    const op = "op" in condition ? condition.op : ""
    const value = Array.isArray(condition.value) ? condition.value.join(", ") : String(condition.value)
    return {
      key: freshKey(),
      field: condition.field,
      op,
      value,
      caseSensitive: "caseSensitive" in condition ? condition.caseSensitive === true : false,
      negate: condition.negate === true
    }
  }),
  actions: rule.actions.map(
    (action): ActionDraft => ({
      key: freshKey(),
      type: action.type,
      argument: "mailbox" in action ? action.mailbox : "tag" in action ? action.tag : "",
      urgency: "urgency" in action && action.urgency !== undefined ? String(action.urgency) : "",
      importance: "importance" in action && action.importance !== undefined ? String(action.importance) : ""
    })
  )
})

/** What is wrong with a row, as a message key of the rules dictionary (the form shows it next to the row). */
export type DraftProblem =
  | { readonly where: "name" | "priority" | "conditions" | "actions"; readonly problem: string }
  | { readonly where: "condition" | "action"; readonly index: number; readonly problem: string }

export type DraftResult =
  | { readonly _tag: "Valid"; readonly rule: RuleInputWire }
  | { readonly _tag: "Invalid"; readonly problems: ReadonlyArray<DraftProblem> }

const isLevel = (n: number): n is 1 | 2 | 3 => n === 1 || n === 2 || n === 3

const conditionOf = (draft: ConditionDraft): RuleConditionWire | string => {
  const negate = draft.negate ? { negate: true } : {}
  const text = draft.value.trim()
  switch (draft.field) {
    case "from":
    case "to":
    case "cc":
    case "recipients": {
      if (text.length === 0) return "valueRequired"
      const op = draft.op
      if (op !== "equals" && op !== "contains" && op !== "domain" && op !== "regex") return "opRequired"
      return {
        field: draft.field,
        op,
        value: draft.value,
        ...(draft.caseSensitive ? { caseSensitive: true } : {}),
        ...negate
      }
    }
    case "subject":
    case "body": {
      if (text.length === 0) return "valueRequired"
      const op = draft.op
      if (op !== "equals" && op !== "contains" && op !== "regex") return "opRequired"
      return {
        field: draft.field,
        op,
        value: draft.value,
        ...(draft.caseSensitive ? { caseSensitive: true } : {}),
        ...negate
      }
    }
    case "hasAttachment":
    case "spam":
      return { field: draft.field, value: draft.value === "true", ...negate }
    case "mailbox":
      return text.length === 0 ? "valueRequired" : { field: "mailbox", op: "equals", value: text, ...negate }
    case "category": {
      if (draft.op === "in") {
        const list = splitList(draft.value)
        return list.length === 0 ? "valueRequired" : { field: "category", op: "in", value: list, ...negate }
      }
      return text.length === 0 ? "valueRequired" : { field: "category", op: "equals", value: text, ...negate }
    }
    case "urgency":
    case "importance":
    case "score": {
      const range = rangeFor(draft.field)
      const n = Number(text)
      if (text.length === 0 || range === null || !Number.isInteger(n) || n < range.min || n > range.max) {
        return "numberOutOfRange"
      }
      const op = compareOps.find((candidate) => candidate === draft.op)
      if (op === undefined) return "opRequired"
      return { field: draft.field, op, value: n, ...negate }
    }
    case "tag": {
      if (text.length === 0) return "valueRequired"
      const op = draft.op === "lacks" ? "lacks" : "has"
      return { field: "tag", op, value: text, ...negate }
    }
  }
}

const actionOf = (draft: ActionDraft): RuleActionWire | string => {
  const argument = draft.argument.trim()
  switch (draft.type) {
    case "moveTo":
    case "copyTo":
      return argument.length === 0 ? "mailboxRequired" : { type: draft.type, mailbox: argument }
    case "addTag":
    case "removeTag":
      return argument.length === 0 ? "tagRequired" : { type: draft.type, tag: argument }
    case "setPriority": {
      const urgency = Number(draft.urgency)
      const importance = Number(draft.importance)
      const u = draft.urgency !== "" && isLevel(urgency) ? { urgency } : {}
      const i = draft.importance !== "" && isLevel(importance) ? { importance } : {}
      return Object.keys(u).length + Object.keys(i).length === 0
        ? "priorityRequired"
        : { type: "setPriority", ...u, ...i }
    }
    case "markRead":
    case "markUnread":
    case "flag":
    case "unflag":
    case "delete":
      return { type: draft.type }
  }
}

/** The wire rule, or every problem the form can see (the server checks the rest: regexes, conflicts). */
export const toRuleInput = (draft: RuleDraft): DraftResult => {
  const problems: Array<DraftProblem> = []
  if (draft.name.trim().length === 0) problems.push({ where: "name", problem: "nameRequired" })
  const priority = Number(draft.priority)
  if (draft.priority.trim() === "" || !Number.isInteger(priority) || priority < 0 || priority > 1_000_000) {
    problems.push({ where: "priority", problem: "priorityRange" })
  }
  if (draft.conditions.length === 0) problems.push({ where: "conditions", problem: "oneCondition" })
  if (draft.actions.length === 0) problems.push({ where: "actions", problem: "oneAction" })
  const conditions: Array<RuleConditionWire> = []
  draft.conditions.forEach((row, index) => {
    const condition = conditionOf(row)
    if (typeof condition === "string") problems.push({ where: "condition", index, problem: condition })
    else conditions.push(condition)
  })
  const actions: Array<RuleActionWire> = []
  draft.actions.forEach((row, index) => {
    const action = actionOf(row)
    if (typeof action === "string") problems.push({ where: "action", index, problem: action })
    else actions.push(action)
  })
  if (problems.length > 0) return { _tag: "Invalid", problems }
  return {
    _tag: "Valid",
    rule: {
      name: draft.name.trim(),
      enabled: draft.enabled,
      match: draft.match,
      priority,
      stopProcessing: draft.stopProcessing,
      conditions,
      actions
    }
  }
}
