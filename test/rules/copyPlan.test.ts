/**
 * The copyTo action in the contract and the planner (issue 12): validated like moveTo, conflicts
 * within a rule, execution order (after flags, before the move), no copy into the message's own
 * mailbox or beside a move into the same mailbox, and a plan with a copy settles.
 */
import { describe, expect, it } from "vitest"
import { diffPlan, planActions } from "../../src/rules/evaluate.ts"
import { compile, decodeError, message, rule } from "./fixtures.ts"

const always = { field: "hasAttachment", value: true }
const valid = { name: "copy", priority: 1, conditions: [always] }

describe("copyTo in the rule schema", () => {
  it("is accepted with a mailbox, validated like moveTo's", () => {
    expect(decodeError({ ...valid, actions: [{ type: "copyTo", mailbox: "Archive/2024" }] })).toBe("")
    expect(decodeError({ ...valid, actions: [{ type: "copyTo", mailbox: "Archive\r\nA1 LOGOUT" }] })).toContain(
      "mailbox must not contain control characters"
    )
    expect(decodeError({ ...valid, actions: [{ type: "copyTo", mailbox: "  " }] })).toContain("must not be blank")
    expect(decodeError({ ...valid, actions: [{ type: "copyTo" }] })).not.toBe("")
  })

  it("combines with delete and with a move elsewhere; not with a move into the same mailbox or twice", () => {
    const ok = (actions: ReadonlyArray<unknown>) => expect(decodeError({ ...valid, actions })).toBe("")
    ok([{ type: "copyTo", mailbox: "Keep" }, { type: "delete" }])
    ok([
      { type: "copyTo", mailbox: "Keep" },
      { type: "moveTo", mailbox: "Elsewhere" },
      { type: "copyTo", mailbox: "Other" }
    ])
    expect(
      decodeError({
        ...valid,
        actions: [
          { type: "moveTo", mailbox: "Keep" },
          { type: "copyTo", mailbox: "Keep" }
        ]
      })
    ).toContain(
      "actions[1] (copyTo 'Keep') conflicts with actions[0] (moveTo 'Keep'): the mailbox would get two copies"
    )
    expect(
      decodeError({
        ...valid,
        actions: [
          { type: "copyTo", mailbox: "inbox" },
          { type: "copyTo", mailbox: "INBOX" }
        ]
      })
    ).toContain("actions[1] (copyTo 'INBOX') duplicates actions[0] (copyTo 'inbox')")
  })
})

describe("copyTo in the plan", () => {
  it("runs after the flags and before the move, and the plan settles", () => {
    const rules = [
      compile(
        rule({
          ...valid,
          actions: [{ type: "moveTo", mailbox: "Elsewhere" }, { type: "copyTo", mailbox: "Keep" }, { type: "markRead" }]
        }),
        "id-1"
      )
    ]
    const plan = planActions(rules, message())
    expect(plan.converged).toBe(true)
    expect(diffPlan(plan, message()).map((p) => p.action.type)).toEqual(["markRead", "copyTo", "moveTo"])
  })

  it("is a no-op into the message's own mailbox and beside a move into the same mailbox", () => {
    const own = compile(rule({ ...valid, actions: [{ type: "copyTo", mailbox: "inbox" }] }), "id-own")
    expect(diffPlan(planActions([own], message()), message())).toEqual([])
    const mover = compile(rule({ ...valid, name: "mover", actions: [{ type: "moveTo", mailbox: "Keep" }] }), "id-m")
    const copier = compile(
      rule({ ...valid, name: "copier", priority: 2, actions: [{ type: "copyTo", mailbox: "Keep" }] }),
      "id-c"
    )
    const plan = planActions([mover, copier], message())
    expect(plan.converged).toBe(true)
    expect(diffPlan(plan, message()).map((p) => p.action)).toEqual([{ type: "moveTo", mailbox: "Keep" }])
  })
})
