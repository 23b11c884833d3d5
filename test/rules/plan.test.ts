import { describe, expect, it } from "vitest"
import type { RuleAction } from "../../src/contract/rules/Rule.ts"
import {
  type ActionPlan,
  applyActions,
  type CompiledRule,
  diffPlan,
  dryRunRule,
  MAX_PLAN_PASSES,
  planActions,
  type RuleSubject
} from "../../src/rules/evaluate.ts"
import { compile, message, rule } from "./fixtures.ts"

const always = { field: "hasAttachment", value: true }
const never = { field: "spam", value: true }

const r = (
  name: string,
  priority: number,
  actions: ReadonlyArray<Record<string, unknown>>,
  extra: Record<string, unknown> = {}
) => compile(rule({ name, priority, conditions: [always], actions, ...extra }), `id-${name}`)

const actionsOf = (plan: ActionPlan) => plan.actions.map((p) => [p.rule.name, p.action])
const names = (plan: ActionPlan) => plan.matchedRules.map((m) => m.name)

/** One full run as a caller would do it: plan, diff, apply the diff. */
const run = (rules: ReadonlyArray<CompiledRule>, subject: RuleSubject) => {
  const plan = planActions(rules, subject)
  const changes = diffPlan(plan, subject)
  return {
    plan,
    changes,
    after: applyActions(
      subject,
      changes.map((c) => c.action)
    )
  }
}

describe("ordering and stopProcessing", () => {
  it("rules run in ascending priority, ties in the given order", () => {
    const rules = [
      r("c", 30, [{ type: "addTag", tag: "c" }]),
      r("a", 10, [{ type: "addTag", tag: "a" }]),
      r("b1", 20, [{ type: "addTag", tag: "b1" }]),
      r("b2", 20, [{ type: "addTag", tag: "b2" }])
    ]
    const plan = planActions(rules, message())
    expect(names(plan)).toEqual(["a", "b1", "b2", "c"])
    expect(plan.matchedRules.map((m) => m.index)).toEqual([1, 2, 3, 0])
    expect(plan.matchedRules[0]).toEqual({ index: 1, id: "id-a", name: "a", priority: 10 })
    // two passes: the second finds nothing left to change
    expect(plan).toMatchObject({ passes: 2, converged: true, evaluatedRules: 8 })
  })

  it("stopProcessing on a matched rule ends the run; on an unmatched rule it does nothing", () => {
    const rules = [
      r("first", 1, [{ type: "addTag", tag: "one" }]),
      compile(rule({ name: "stops-but-no-match", priority: 2, conditions: [never], stopProcessing: true })),
      r("stopper", 3, [{ type: "flag" }], { stopProcessing: true }),
      r("after", 4, [{ type: "markRead" }])
    ]
    const plan = planActions(rules, message())
    expect(names(plan)).toEqual(["first", "stopper"])
    expect(plan.stoppedBy?.name).toBe("stopper")
    expect(plan).toMatchObject({ passes: 2, evaluatedRules: 6 })
    expect(actionsOf(plan)).toEqual([
      ["first", { type: "addTag", tag: "one" }],
      ["stopper", { type: "flag" }]
    ])
    expect(planActions(rules.slice(0, 2), message()).stoppedBy).toBeUndefined()
  })

  it("disabled rules are skipped (and cannot stop processing)", () => {
    const rules = [
      r("off", 1, [{ type: "flag" }], { enabled: false, stopProcessing: true }),
      r("on", 2, [{ type: "markRead" }])
    ]
    const plan = planActions(rules, message())
    expect(names(plan)).toEqual(["on"])
    expect(plan).toMatchObject({ passes: 2, evaluatedRules: 2 })
    expect(names(planActions(rules, message(), { includeDisabled: true }))).toEqual(["off"])
  })

  it("a rule sees what earlier rules did to the message", () => {
    const rules = [
      compile(
        rule({
          name: "tagger",
          priority: 1,
          conditions: [{ field: "subject", op: "contains", value: "rechnung" }],
          actions: [{ type: "addTag", tag: "invoice" }]
        })
      ),
      compile(
        rule({
          name: "filer",
          priority: 2,
          conditions: [{ field: "tag", op: "has", value: "invoice" }],
          actions: [{ type: "moveTo", mailbox: "Rechnungen" }]
        })
      ),
      compile(
        rule({
          name: "inbox-only",
          priority: 3,
          conditions: [{ field: "mailbox", op: "equals", value: "INBOX" }],
          actions: [{ type: "flag" }]
        })
      )
    ]
    const plan = planActions(rules, message())
    expect(names(plan)).toEqual(["tagger", "filer"])
    expect(actionsOf(plan)).toEqual([
      ["tagger", { type: "addTag", tag: "invoice" }],
      ["filer", { type: "moveTo", mailbox: "Rechnungen" }]
    ])
  })
})

describe("merging actions of several rules", () => {
  it("puts actions in execution order with move/delete last, and keeps agreeing actions once", () => {
    const rules = [
      r("mover", 1, [{ type: "moveTo", mailbox: "Archive" }, { type: "markRead" }]),
      r("tagger", 2, [{ type: "addTag", tag: "x" }, { type: "removeTag", tag: "shopping" }, { type: "markRead" }]),
      r("prio", 3, [{ type: "setPriority", urgency: 3, importance: 1 }, { type: "flag" }])
    ]
    const plan = planActions(rules, message())
    expect(actionsOf(plan)).toEqual([
      ["prio", { type: "setPriority", urgency: 3, importance: 1 }],
      ["tagger", { type: "addTag", tag: "x" }],
      ["tagger", { type: "removeTag", tag: "shopping" }],
      ["mover", { type: "markRead" }],
      ["prio", { type: "flag" }],
      ["mover", { type: "moveTo", mailbox: "Archive" }]
    ])
    expect(plan.overridden).toEqual([])
  })

  it("on conflicts the earlier rule wins and the loser is reported", () => {
    const rules = [
      r("read-it", 1, [{ type: "markRead" }, { type: "moveTo", mailbox: "A" }, { type: "addTag", tag: "Keep" }]),
      r("unread-it", 2, [
        { type: "markUnread" },
        { type: "delete" },
        { type: "removeTag", tag: "keep" },
        { type: "setPriority", urgency: 1 }
      ]),
      r("prio", 3, [{ type: "setPriority", urgency: 3, importance: 3 }])
    ]
    const plan = planActions(rules, message())
    expect(actionsOf(plan)).toEqual([
      ["unread-it", { type: "setPriority", urgency: 1 }],
      ["prio", { type: "setPriority", importance: 3 }],
      ["read-it", { type: "addTag", tag: "Keep" }],
      ["read-it", { type: "markRead" }],
      ["read-it", { type: "moveTo", mailbox: "A" }]
    ])
    expect(plan.overridden.map((o) => [o.rule.name, o.action, o.by.name, o.reason])).toEqual([
      [
        "unread-it",
        { type: "markUnread" },
        "read-it",
        "markUnread conflicts with markRead from rule 'read-it', which runs first"
      ],
      [
        "unread-it",
        { type: "delete" },
        "read-it",
        "delete conflicts with moveTo 'A' from rule 'read-it', which runs first"
      ],
      [
        "unread-it",
        { type: "removeTag", tag: "keep" },
        "read-it",
        "removeTag 'keep' conflicts with addTag 'Keep' from rule 'read-it', which runs first"
      ],
      [
        "prio",
        { type: "setPriority", urgency: 3 },
        "unread-it",
        "setPriority urgency 3 conflicts with setPriority urgency 1 from rule 'unread-it', which runs first"
      ]
    ])
  })

  it("a delete wins over a later move", () => {
    const plan = planActions(
      [r("trash", 1, [{ type: "delete" }]), r("move", 2, [{ type: "moveTo", mailbox: "B" }])],
      message()
    )
    expect(actionsOf(plan)).toEqual([["trash", { type: "delete" }]])
    expect(plan.overridden).toHaveLength(1)
  })

  it("no matched rule: an empty plan", () => {
    const plan = planActions([compile(rule({ conditions: [never] }))], message())
    expect(plan).toEqual({
      matchedRules: [],
      actions: [],
      overridden: [],
      evaluatedRules: 1,
      passes: 1,
      converged: true
    })
  })
})

describe("diffPlan: only what is not already true", () => {
  const rules = [
    r("all", 1, [
      { type: "markRead" },
      { type: "flag" },
      { type: "addTag", tag: "SHOPPING" },
      { type: "addTag", tag: "new" },
      { type: "removeTag", tag: "absent" },
      { type: "setPriority", urgency: 2, importance: 1 },
      { type: "moveTo", mailbox: "inbox" }
    ])
  ]

  it("drops actions that change nothing", () => {
    const subject = message({ flags: { seen: true, flagged: false }, urgency: 2, importance: 3 })
    const changes = diffPlan(planActions(rules, subject), subject)
    expect(changes.map((c) => c.action)).toEqual([
      { type: "setPriority", importance: 1 },
      { type: "addTag", tag: "new" },
      { type: "flag" }
    ])
  })

  it("delete is a no-op in the Trash (by special use or by path)", () => {
    const del = [r("del", 1, [{ type: "delete" }])]
    const inTrash = message({ mailbox: "Papierkorb", mailboxSpecialUse: "\\Trash" })
    expect(diffPlan(planActions(del, inTrash), inTrash)).toEqual([])
    const byPath = message({ mailbox: "Trash", trashMailbox: "Trash" })
    expect(diffPlan(planActions(del, byPath), byPath)).toEqual([])
    expect(diffPlan(planActions(del, message()), message()).map((c) => c.action)).toEqual([{ type: "delete" }])
  })

  it("markUnread / unflag / removeTag only when needed", () => {
    const undo = [r("undo", 1, [{ type: "markUnread" }, { type: "unflag" }, { type: "removeTag", tag: "Shopping" }])]
    const dirty = message({ flags: { seen: true, flagged: true } })
    expect(diffPlan(planActions(undo, dirty), dirty).map((c) => c.action.type)).toEqual([
      "removeTag",
      "markUnread",
      "unflag"
    ])
    const after = applyActions(
      dirty,
      diffPlan(planActions(undo, dirty), dirty).map((c) => c.action)
    )
    expect(after.flags).toEqual({ seen: false, flagged: false })
    expect(after.tags).toEqual([])
    expect(diffPlan(planActions(undo, after), after)).toEqual([])
  })
})

describe("applying the same rules twice changes nothing the second time", () => {
  const realistic = (): ReadonlyArray<CompiledRule> => [
    compile(
      rule({
        name: "spam to junk",
        priority: 1,
        stopProcessing: true,
        conditions: [{ field: "spam", value: true }],
        actions: [{ type: "moveTo", mailbox: "Junk" }, { type: "markRead" }]
      })
    ),
    compile(
      rule({
        name: "invoices",
        priority: 10,
        match: "any",
        conditions: [
          { field: "subject", op: "regex", value: "rechnung|invoice|faktura" },
          { field: "body", op: "contains", value: "zahlbar bis" }
        ],
        actions: [
          { type: "addTag", tag: "invoice" },
          { type: "setPriority", importance: 3 }
        ]
      })
    ),
    compile(
      rule({
        name: "file invoices",
        priority: 20,
        conditions: [
          { field: "tag", op: "has", value: "invoice" },
          { field: "mailbox", op: "equals", value: "INBOX" }
        ],
        actions: [{ type: "moveTo", mailbox: "Finanzen/Rechnungen" }, { type: "flag" }]
      })
    ),
    compile(
      rule({
        name: "newsletters",
        priority: 30,
        conditions: [{ field: "category", op: "in", value: ["newsletter", "marketing"] }],
        actions: [{ type: "markRead" }, { type: "removeTag", tag: "todo" }, { type: "moveTo", mailbox: "Newsletter" }]
      })
    ),
    compile(
      rule({
        name: "boss",
        priority: 40,
        conditions: [
          { field: "from", op: "domain", value: "firma.de" },
          { field: "urgency", op: "gte", value: 2 }
        ],
        actions: [{ type: "flag" }, { type: "addTag", tag: "todo" }, { type: "markUnread" }]
      })
    ),
    compile(
      rule({
        name: "old junk cleanup",
        priority: 50,
        conditions: [
          { field: "mailbox", op: "equals", value: "Junk" },
          { field: "score", op: "lte", value: 9 }
        ],
        actions: [{ type: "delete" }]
      })
    )
  ]

  const senders = ["chef@firma.de", "news@shop.example", "billing@provider.de", "friend@mail.de", "x@spam.biz"]
  const subjects = ["Ihre Rechnung 4711", "Wochenangebote", "Treffen morgen?", "INVOICE #99", "Gewinn!!!"]
  const synthetic = (i: number): RuleSubject =>
    message({
      from: { address: senders[i % senders.length] ?? "a@b.c" },
      subject: subjects[(i * 7) % subjects.length] ?? "",
      bodyText: i % 11 === 0 ? "Bitte zahlbar bis 31.12." : "Hallo",
      category: ["newsletter", "personal", "finance", "marketing", null][i % 5] ?? null,
      urgency: (i % 3) + 1,
      score: 3 + ((i * 13) % 7),
      spam: i % 9 === 0,
      tags: i % 4 === 0 ? ["todo"] : [],
      mailbox: i % 6 === 0 ? "Junk" : "INBOX",
      mailboxSpecialUse: i % 6 === 0 ? "\\Junk" : null,
      flags: { seen: i % 2 === 0, flagged: i % 5 === 0 }
    })

  it("over 300 varied messages: the first run changes many, the second none", () => {
    const rules = realistic()
    let changedFirst = 0
    for (let i = 0; i < 300; i++) {
      const first = run(rules, synthetic(i))
      if (first.changes.length > 0) changedFirst += 1
      const second = run(rules, first.after)
      expect([i, second.changes]).toEqual([i, []])
      // and the message really is in the state the first run planned
      const location = first.plan.actions.find((a) => a.action.type === "moveTo" || a.action.type === "delete")
      if (location?.action.type === "moveTo") expect(first.after.mailbox).toBe(location.action.mailbox)
      if (location?.action.type === "delete")
        expect(first.after).toMatchObject({ mailbox: "Trash", mailboxSpecialUse: "\\Trash" })
    }
    expect(changedFirst).toBeGreaterThan(150)
  })

  it("a rule enabled by a LATER rule's action is applied in the same run (the plan settles)", () => {
    const rules = [
      compile(
        rule({
          name: "flag invoices",
          priority: 1,
          conditions: [{ field: "tag", op: "has", value: "invoice" }],
          actions: [{ type: "flag" }]
        })
      ),
      compile(
        rule({
          name: "tag invoices",
          priority: 2,
          conditions: [{ field: "subject", op: "contains", value: "rechnung" }],
          actions: [{ type: "addTag", tag: "invoice" }]
        })
      )
    ]
    const first = run(rules, message())
    expect(first.changes.map((c) => [c.rule.name, c.action.type])).toEqual([
      ["tag invoices", "addTag"],
      ["flag invoices", "flag"]
    ])
    expect(first.plan).toMatchObject({ passes: 3, converged: true })
    expect(run(rules, first.after).changes).toEqual([])
  })

  it("a rule whose own move ends its match: the re-evaluation's move supersedes it", () => {
    const rules = [
      compile(
        rule({
          name: "file invoices",
          priority: 1,
          conditions: [
            { field: "mailbox", op: "equals", value: "INBOX" },
            { field: "subject", op: "contains", value: "rechnung" }
          ],
          actions: [{ type: "moveTo", mailbox: "Rechnungen" }]
        })
      ),
      compile(
        rule({
          name: "finance",
          priority: 2,
          conditions: [{ field: "category", op: "equals", value: "finance" }],
          actions: [{ type: "moveTo", mailbox: "Finanzen" }, { type: "markRead" }]
        })
      )
    ]
    const first = run(rules, message())
    // one pass alone would move to Rechnungen; a second run would then move on to Finanzen
    expect(first.changes.map((c) => [c.rule.name, c.action])).toEqual([
      ["finance", { type: "markRead" }],
      ["finance", { type: "moveTo", mailbox: "Finanzen" }]
    ])
    expect(first.plan.overridden.map((o) => o.reason)).toEqual([
      "moveTo 'Finanzen' conflicts with moveTo 'Rechnungen' from rule 'file invoices', which runs first",
      "moveTo 'Rechnungen' is superseded by moveTo 'Finanzen' from rule 'finance', which applies to the message as the earlier actions leave it"
    ])
    expect(run(rules, first.after).changes).toEqual([])
  })

  it("rules that undo each other: the first pass is the plan and converged is false", () => {
    const rules = [
      compile(
        rule({
          name: "remove x",
          priority: 1,
          conditions: [{ field: "tag", op: "has", value: "x" }],
          actions: [{ type: "removeTag", tag: "x" }]
        })
      ),
      compile(
        rule({
          name: "add x",
          priority: 2,
          conditions: [{ field: "tag", op: "lacks", value: "x" }],
          actions: [{ type: "addTag", tag: "x" }]
        })
      )
    ]
    const plan = planActions(rules, message())
    expect(plan.converged).toBe(false)
    expect(plan.passes).toBeLessThanOrEqual(MAX_PLAN_PASSES)
    expect(actionsOf(plan)).toEqual([["add x", { type: "addTag", tag: "x" }]])
  })
})

describe("applyActions", () => {
  it("simulates every action", () => {
    const actions: ReadonlyArray<RuleAction> = [
      { type: "markRead" },
      { type: "flag" },
      { type: "addTag", tag: "a" },
      { type: "addTag", tag: "A" },
      { type: "removeTag", tag: "SHOPPING" },
      { type: "setPriority", urgency: 1 },
      { type: "moveTo", mailbox: "X" }
    ]
    const after = applyActions(message(), actions)
    expect(after).toMatchObject({
      flags: { seen: true, flagged: true },
      tags: ["a"],
      urgency: 1,
      importance: 3,
      mailbox: "X"
    })
    const deleted = applyActions(message(), [{ type: "delete" }])
    expect(deleted).toMatchObject({ mailbox: "Trash", mailboxSpecialUse: "\\Trash" })
    expect(applyActions(message({ trashMailbox: null }), [{ type: "delete" }])).toMatchObject({
      mailbox: "INBOX",
      mailboxSpecialUse: "\\Trash"
    })
  })
})

describe("dryRunRule", () => {
  it("explains and lists the changes the rule alone would make, also for a disabled rule", () => {
    const compiled = compile(
      rule({
        name: "dry",
        enabled: false,
        conditions: [{ field: "subject", op: "contains", value: "Rechnung" }],
        actions: [{ type: "markRead" }, { type: "addTag", tag: "shopping" }]
      })
    )
    const dry = dryRunRule(compiled, message())
    expect(dry.evaluation.matched).toBe(true)
    expect(dry.changes.map((c) => c.action)).toEqual([{ type: "markRead" }])
    const miss = dryRunRule(compiled, message({ subject: "Hallo" }))
    expect(miss).toMatchObject({ evaluation: { matched: false }, changes: [] })
  })
})

describe("a score derived from the priority (scoreOf)", () => {
  const scoreOf = (u: number | null, i: number | null) => (u === null || i === null ? null : 2 * u + i)

  it("setPriority recomputes the score, so rules on the score see the new priority and the plan settles", () => {
    const rules = [
      r("raise", 1, [{ type: "setPriority", urgency: 3 }]),
      compile(
        rule({
          name: "high score",
          priority: 2,
          conditions: [{ field: "score", op: "gte", value: 8 }],
          actions: [{ type: "flag" }]
        }),
        "id-high"
      )
    ]
    // urgency 1, importance 3: score 5 before, 9 after the first rule
    const subject = message({ urgency: 1, importance: 3, score: 5, scoreOf })
    const first = run(rules, subject)
    expect(first.changes.map((c) => c.action)).toEqual([{ type: "setPriority", urgency: 3 }, { type: "flag" }])
    expect(first.after.score).toBe(9)
    expect(diffPlan(planActions(rules, first.after), first.after)).toEqual([])
    // without scoreOf the score stays put (a store whose score is independent of the priority)
    expect(
      applyActions(message({ urgency: 1, importance: 3, score: 5 }), [{ type: "setPriority", urgency: 3 }]).score
    ).toBe(5)
  })
})
