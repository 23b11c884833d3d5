import { describe, expect, it } from "@effect/vitest"
import { Exit, Schema } from "effect"
import fc from "fast-check"
import { CheckedRuleInput } from "../../src/rules/regex.ts"
import { correctionOf } from "../../web/src/pages/mail/correction.ts"
import { inboxQuery, noFilters } from "../../web/src/pages/mail/inboxFilters.ts"
import {
  type ActionType,
  actionTypes,
  type ConditionField,
  conditionFields,
  fromRule,
  newAction,
  newCondition,
  opsFor,
  type RuleDraft,
  rangeFor,
  toRuleInput
} from "../../web/src/pages/mail/ruleForm.ts"
import { snippetPieces } from "../../web/src/pages/mail/snippet.ts"

/**
 * The pages' logic that decides what is sent and what is shown, against the contract's own
 * schemas: a rule the form calls valid is a rule the server decodes, a snippet is shown as the
 * text it stands for (never as markup), a correction sends only what changed.
 */

const escapeHtml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

describe("search snippets", () => {
  it("split into the original text and the marked matches, whatever the text holds", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.boolean()), { maxLength: 8 }), (parts) => {
        const snippet = parts
          .map(([text, marked]) => (marked ? `<mark>${escapeHtml(text)}</mark>` : escapeHtml(text)))
          .join("")
        const pieces = snippetPieces(snippet)
        expect(pieces.map((piece) => piece.text).join("")).toBe(parts.map(([text]) => text).join(""))
        expect(
          pieces
            .filter((piece) => piece.marked)
            .map((piece) => piece.text)
            .join("")
        ).toBe(
          parts
            .filter(([, marked]) => marked)
            .map(([text]) => text)
            .join("")
        )
      })
    )
  })

  it("keeps a would-be tag in the text as text", () => {
    const pieces = snippetPieces("a &lt;img src=x onerror=alert(1)&gt; <mark>b</mark> <script>")
    expect(pieces).toEqual([
      { text: "a <img src=x onerror=alert(1)> ", marked: false },
      { text: "b", marked: true },
      { text: " <script>", marked: false }
    ])
  })
})

const decodesOnServer = (rule: unknown) =>
  Schema.decodeUnknownExit(CheckedRuleInput)(rule, { onExcessProperty: "error" })

const fieldArb = fc.constantFrom<ConditionField>(...conditionFields)
// control characters are refused by the schema (and no input field produces them); commas split lists
const textArb = fc
  .string({ minLength: 1, maxLength: 40 })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: excluding control characters is the point
  .filter((s) => s.trim().length > 0 && !/[\u0000-\u001f\u007f,]/.test(s))

const conditionArb = fieldArb.chain((field) => {
  const ops = opsFor(field).filter((op) => op !== "regex")
  const range = rangeFor(field)
  return fc
    .record({
      op: ops.length === 0 ? fc.constant("") : fc.constantFrom(...ops),
      value:
        range !== null
          ? fc.integer({ min: range.min, max: range.max }).map(String)
          : ops.length === 0
            ? fc.constantFrom("true", "false")
            : textArb,
      negate: fc.boolean(),
      caseSensitive: fc.boolean()
    })
    .map((row) => ({
      ...newCondition(field),
      ...row,
      caseSensitive: row.caseSensitive && (field === "subject" || field === "from")
    }))
})

// one action per rule: two actions may contradict each other, which only the server checks
const actionArb = fc
  .record({
    type: fc.constantFrom<ActionType>(...actionTypes),
    argument: textArb,
    urgency: fc.constantFrom("", "1", "2", "3"),
    importance: fc.constantFrom("1", "2", "3")
  })
  .map((row) => ({ ...newAction(row.type), ...row }))

const draftArb: fc.Arbitrary<RuleDraft> = fc.record({
  name: textArb,
  enabled: fc.boolean(),
  match: fc.constantFrom<"all" | "any">("all", "any"),
  priority: fc.integer({ min: 0, max: 1_000_000 }).map(String),
  stopProcessing: fc.boolean(),
  conditions: fc.array(conditionArb, { minLength: 1, maxLength: 6 }),
  actions: fc.array(actionArb, { minLength: 1, maxLength: 1 })
})

describe("the rule form", () => {
  it("sends only rules the server's schema accepts, and reads them back unchanged", () => {
    fc.assert(
      fc.property(draftArb, (draft) => {
        const checked = toRuleInput(draft)
        expect(checked._tag).toBe("Valid")
        if (checked._tag !== "Valid") return
        const decoded = decodesOnServer(checked.rule)
        expect(Exit.isSuccess(decoded), JSON.stringify(checked.rule)).toBe(true)
        const again = toRuleInput(fromRule(checked.rule))
        expect(again).toEqual(checked)
      }),
      { numRuns: 300 }
    )
  })

  it("names every row that is missing something instead of sending it", () => {
    const draft: RuleDraft = {
      name: " ",
      enabled: true,
      match: "all",
      priority: "-1",
      stopProcessing: false,
      conditions: [
        { ...newCondition("subject"), value: "" },
        { ...newCondition("score"), value: "10" }
      ],
      actions: [{ ...newAction("moveTo"), argument: " " }, { ...newAction("setPriority") }]
    }
    const checked = toRuleInput(draft)
    expect(checked).toEqual({
      _tag: "Invalid",
      problems: [
        { where: "name", problem: "nameRequired" },
        { where: "priority", problem: "priorityRange" },
        { where: "condition", index: 0, problem: "valueRequired" },
        { where: "condition", index: 1, problem: "numberOutOfRange" },
        { where: "action", index: 0, problem: "mailboxRequired" },
        { where: "action", index: 1, problem: "priorityRequired" }
      ]
    })
  })
})

describe("the correction form", () => {
  const analysed = { overrides: null, tags: ["invoice"] }
  const form = { urgency: "", importance: "", category: "", spam: "", tags: "invoice" }

  it("sends nothing when nothing changed", () => {
    expect(correctionOf(analysed, form)).toEqual({})
  })

  it("sends the changed priority only", () => {
    expect(correctionOf(analysed, { ...form, urgency: "3", importance: "2" })).toEqual({ urgency: 3, importance: 2 })
  })

  it("drops a correction with null when set back to the analysis", () => {
    const corrected = {
      overrides: { urgency: 3, importance: null, category: "work", spam: null, tags: ["a"], updatedAt: new Date(0) },
      tags: ["a"]
    } as const
    expect(correctionOf(corrected, { ...form, category: "work", tags: "" })).toEqual({ urgency: null, tags: null })
  })
})

describe("inbox filters", () => {
  it("ask for priority order, and a colour as its lowest score", () => {
    expect(inboxQuery(noFilters, null)).toEqual({ sort: "score" })
    expect(inboxQuery({ ...noFilters, band: "yellow", unread: true }, "t1")).toEqual({
      sort: "score",
      minScore: 5,
      unread: "true",
      threadId: "t1"
    })
  })
})
