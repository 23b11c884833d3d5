import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { EvaluationLimits } from "../../src/rules/evaluate.ts"
import { RuleStoreLimits } from "../../src/rules/RuleStore.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  allRuns,
  applyAndWait,
  as,
  createRule,
  deleteAllRules,
  loginCount,
  rulesTestLayer,
  seedAccount,
  seedMessages,
  serverMessages,
  stored
} from "./support.ts"

const alice = "a1111111-1111-4111-8111-111111111111"
const bob = "b2222222-2222-4222-8222-222222222222"
const carol = "c3333333-3333-4333-8333-333333333333"

const invoiceRule = {
  name: "Invoices",
  priority: 10,
  conditions: [
    { field: "subject", op: "contains", value: "Rechnung" },
    { field: "from", op: "domain", value: "shop.example" }
  ],
  actions: [{ type: "addTag", tag: "invoice" }, { type: "flag" }]
}

const issuesOf = (body: unknown): Array<{ path: string; message: string }> => {
  const issues = field(body, "issues")
  return Array.isArray(issues)
    ? issues.map((i) => ({ path: String(field(i, "path")), message: String(field(i, "message")) }))
    : []
}

layer(rulesTestLayer(["alice-api", "bob-api"]), { excludeTestServices: true, timeout: "120 seconds" })(
  "rules API",
  (it) => {
    describe("CRUD", () => {
      it.effect("creates with defaults, lists in priority order, reads, patches and deletes", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const late = yield* createRule(base, carol, { ...invoiceRule, name: "late", priority: 50 })
          const early = yield* createRule(base, carol, { ...invoiceRule, name: "early", priority: 5 })
          const tie = yield* createRule(base, carol, { ...invoiceRule, name: "tie", priority: 50 })

          const got = yield* call(base, "GET", `/api/v1/rules/${early}`, { headers: as(carol) })
          assert.strictEqual(got.status, 200, got.text)
          assert.strictEqual(field(got.body, "enabled"), true)
          assert.strictEqual(field(got.body, "match"), "all")
          assert.strictEqual(field(got.body, "stopProcessing"), false)
          assert.deepStrictEqual(field(got.body, "actions"), invoiceRule.actions)

          const list = yield* call(base, "GET", "/api/v1/rules", { headers: as(carol) })
          const ids = (field(list.body, "items") as Array<unknown>).map((r) => field(r, "id"))
          assert.deepStrictEqual(ids, [early, late, tie])

          const patched = yield* call(base, "PATCH", `/api/v1/rules/${tie}`, {
            json: { priority: 1, enabled: false, match: "any" },
            headers: as(carol)
          })
          assert.strictEqual(patched.status, 200, patched.text)
          assert.strictEqual(field(patched.body, "priority"), 1)
          assert.strictEqual(field(patched.body, "enabled"), false)
          assert.strictEqual(field(patched.body, "name"), "tie")
          assert.deepStrictEqual(field(patched.body, "conditions"), invoiceRule.conditions)
          const reordered = yield* call(base, "GET", "/api/v1/rules", { headers: as(carol) })
          assert.deepStrictEqual(
            (field(reordered.body, "items") as Array<unknown>).map((r) => field(r, "id")),
            [tie, early, late]
          )

          const removed = yield* call(base, "DELETE", `/api/v1/rules/${late}`, { headers: as(carol) })
          assert.strictEqual(removed.status, 204)
          const again = yield* call(base, "GET", `/api/v1/rules/${late}`, { headers: as(carol) })
          assert.strictEqual(again.status, 404)
          assert.strictEqual(field(again.body, "_tag"), "RuleNotFound")
          yield* deleteAllRules(base, carol)
        })
      )

      it.effect("refuses invalid rules with a 400 that names every problem", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const badRegex = yield* call(base, "POST", "/api/v1/rules", {
            json: {
              ...invoiceRule,
              conditions: [
                { field: "subject", op: "contains", value: "ok" },
                { field: "body", op: "regex", value: "(abc" }
              ]
            },
            headers: as(alice)
          })
          assert.strictEqual(badRegex.status, 400, badRegex.text)
          assert.strictEqual(field(badRegex.body, "_tag"), "ValidationError")
          const regexIssue = issuesOf(badRegex.body).find((i) => i.path === "payload.conditions.1.value")
          assert.isDefined(regexIssue, badRegex.text)
          assert.match(regexIssue?.message ?? "", /^condition 2: invalid regex: missing closing \)/)

          const many = yield* call(base, "POST", "/api/v1/rules", {
            json: {
              name: " ",
              priority: -1,
              conditions: [{ field: "subject", op: "contains", value: "x", negated: true }],
              actions: [{ type: "markRead" }, { type: "markUnread" }],
              surprise: 1
            },
            headers: as(alice)
          })
          assert.strictEqual(many.status, 400, many.text)
          const paths = issuesOf(many.body).map((i) => i.path)
          for (const expected of ["payload.name", "payload.priority", "payload.surprise"]) {
            assert.include(paths, expected, many.text)
          }
          assert.isTrue(
            paths.some((p) => p.startsWith("payload.conditions.0")),
            `the unknown key negated is named: ${many.text}`
          )
          assert.isTrue(
            issuesOf(many.body).some((i) => i.path === "payload.actions.1" && /conflicts/.test(i.message)),
            `markRead + markUnread is named: ${many.text}`
          )

          const missing = yield* call(base, "POST", "/api/v1/rules", { json: { name: "x" }, headers: as(alice) })
          assert.strictEqual(missing.status, 400)
          assert.includeMembers(
            issuesOf(missing.body).map((i) => i.path),
            ["payload.priority", "payload.conditions", "payload.actions"]
          )

          const badApply = yield* call(base, "POST", "/api/v1/rules/apply", {
            json: { since: "last tuesday", ruleIds: ["nope"], mailbox: "" },
            headers: as(alice)
          })
          assert.strictEqual(badApply.status, 400, badApply.text)
          assert.includeMembers(
            issuesOf(badApply.body).map((i) => i.path),
            ["payload.since", "payload.ruleIds.0", "payload.mailbox"]
          )

          // a PATCH is validated too, and changes nothing when refused
          const id = yield* createRule(base, alice, invoiceRule)
          const patch = yield* call(base, "PATCH", `/api/v1/rules/${id}`, {
            json: { conditions: [{ field: "subject", op: "regex", value: "a{2,1}" }] },
            headers: as(alice)
          })
          assert.strictEqual(patch.status, 400, patch.text)
          assert.match(issuesOf(patch.body)[0]?.message ?? "", /condition 1: invalid regex/)
          const after = yield* call(base, "GET", `/api/v1/rules/${id}`, { headers: as(alice) })
          assert.deepStrictEqual(field(after.body, "conditions"), invoiceRule.conditions)
          yield* deleteAllRules(base, alice)
        })
      )

      it.effect(`caps a user at ${RuleStoreLimits.maxRulesPerUser} rules (409), other users unaffected`, () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const user = "d4444444-4444-4444-8444-444444444444"
          yield* Effect.forEach(
            Array.from({ length: RuleStoreLimits.maxRulesPerUser }, (_, i) => i),
            (i) => createRule(base, user, { ...invoiceRule, name: `rule ${i}`, priority: i }),
            { concurrency: 8 }
          )
          const over = yield* call(base, "POST", "/api/v1/rules", { json: invoiceRule, headers: as(user) })
          assert.strictEqual(over.status, 409, over.text)
          assert.strictEqual(field(over.body, "_tag"), "RuleLimitReached")
          assert.strictEqual(field(over.body, "limit"), RuleStoreLimits.maxRulesPerUser)
          const list = yield* call(base, "GET", "/api/v1/rules", { headers: as(user) })
          assert.lengthOf(field(list.body, "items") as Array<unknown>, RuleStoreLimits.maxRulesPerUser)
          // someone else can still create
          yield* createRule(base, "e5555555-5555-4555-8555-555555555555", invoiceRule)
        })
      )
    })

    describe("dry run (POST /rules/:id/test)", () => {
      it.effect("explains every condition with the value it saw, and changes nothing anywhere", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const account = yield* seedAccount(alice, server, "alice-api")
          const [invoice, other] = yield* seedMessages(alice, account, server, "alice-api", "INBOX", [
            {
              subject: "Ihre Rechnung Nr. 4711",
              from: { name: "Shop", address: "billing@mail.shop.example" },
              analysis: { urgency: 2, importance: 2, category: "finance" }
            },
            { subject: "Lunch tomorrow?", from: { name: "Dave", address: "dave@example.net" } }
          ])
          if (invoice === undefined || other === undefined) throw new Error("seeding failed")
          const id = yield* createRule(base, alice, {
            ...invoiceRule,
            actions: [...invoiceRule.actions, { type: "moveTo", mailbox: "Archive" }]
          })
          const serverBefore = yield* serverMessages(server, "alice-api")
          const loginsBefore = yield* loginCount(server, "alice-api")
          const storedBefore = yield* stored(alice, invoice.emailId)

          const one = yield* call(base, "POST", `/api/v1/rules/${id}/test`, {
            json: { emailId: invoice.emailId },
            headers: as(alice)
          })
          assert.strictEqual(one.status, 200, one.text)
          const [result] = field(one.body, "results") as Array<unknown>
          assert.strictEqual(field(result, "matched"), true)
          assert.deepStrictEqual(field(result, "conditions"), [
            { index: 0, description: "subject contains 'Rechnung'", passed: true, observed: "Ihre Rechnung Nr. 4711" },
            {
              index: 1,
              description: "sender domain 'shop.example'",
              passed: true,
              observed: "Shop <billing@mail.shop.example>"
            }
          ])
          assert.deepStrictEqual(field(result, "changes"), [
            { type: "addTag", tag: "invoice" },
            { type: "flag" },
            { type: "moveTo", mailbox: "Archive" }
          ])
          assert.match(String(field(result, "explanation")), /^matched \(all\): subject contains 'Rechnung': true/)

          // the newest messages: the non-matching one says why not
          const recent = yield* call(base, "POST", `/api/v1/rules/${id}/test`, {
            json: { limit: 10 },
            headers: as(alice)
          })
          assert.strictEqual(recent.status, 200, recent.text)
          const results = field(recent.body, "results") as Array<unknown>
          const lunch = results.find((r) => field(r, "email", "id") === other.emailId)
          assert.strictEqual(field(lunch, "matched"), false)
          assert.strictEqual(field(lunch, "conditions", 0, "passed"), false)
          assert.strictEqual(field(lunch, "conditions", 0, "observed"), "Lunch tomorrow?")
          assert.strictEqual(field(lunch, "conditions", 1, "observed"), "Dave <dave@example.net>")
          assert.deepStrictEqual(field(lunch, "changes"), [])

          // nothing changed: server (flags, modseq, mailbox), database, execution log
          assert.deepStrictEqual(yield* serverMessages(server, "alice-api"), serverBefore)
          assert.strictEqual(yield* loginCount(server, "alice-api"), loginsBefore, "a dry run opens no IMAP session")
          assert.deepStrictEqual(yield* stored(alice, invoice.emailId), storedBefore)
          assert.lengthOf(yield* allRuns(base, alice), 0)

          const both = yield* call(base, "POST", `/api/v1/rules/${id}/test`, {
            json: { emailId: invoice.emailId, limit: 3 },
            headers: as(alice)
          })
          assert.strictEqual(both.status, 400)
          yield* deleteAllRules(base, alice)
        })
      )

      it.effect("a pathological regex on a long body returns quickly (linear-time engine)", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const account = yield* seedAccount(bob, server, "bob-api")
          // within the 16 KiB a body regex looks at, so the '!' is seen
          const [long] = yield* seedMessages(bob, account, server, "bob-api", "INBOX", [
            { subject: "aaaa", body: `${"a".repeat(EvaluationLimits.maxRegexBodyChars - 100)}!` }
          ])
          if (long === undefined) throw new Error("seeding failed")
          const id = yield* createRule(base, bob, {
            name: "evil",
            priority: 1,
            conditions: [
              { field: "body", op: "regex", value: "(a+)+$" },
              { field: "subject", op: "regex", value: "^(a|aa)+$" }
            ],
            actions: [{ type: "flag" }]
          })
          const started = performance.now()
          const response = yield* call(base, "POST", `/api/v1/rules/${id}/test`, {
            json: { emailId: long.emailId },
            headers: as(bob)
          })
          const elapsed = performance.now() - started
          console.log(
            `dry run of (a+)+$ on a ${EvaluationLimits.maxRegexBodyChars - 99}-character body: ${elapsed.toFixed(1)} ms (HTTP round trip)`
          )
          assert.strictEqual(response.status, 200, response.text)
          assert.strictEqual(field(response.body, "results", 0, "conditions", 0, "passed"), false)
          assert.strictEqual(field(response.body, "results", 0, "conditions", 1, "passed"), true)
          assert.strictEqual(field(response.body, "results", 0, "matched"), false)
          yield* deleteAllRules(base, bob)
        })
      )
    })

    describe("isolation", () => {
      it.effect("another user's rule, email, account or runs are 404 on every rules endpoint", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const account = yield* seedAccount(alice, server, "alice-api")
          const [mail] = yield* seedMessages(alice, account, server, "alice-api", "INBOX", [
            { subject: "Rechnung 1", from: { name: "Shop", address: "a@shop.example" } }
          ])
          if (mail === undefined) throw new Error("seeding failed")
          const rule = yield* createRule(base, alice, invoiceRule)
          yield* applyAndWait(base, alice, { ruleIds: [rule] })
          const alicesRuns = yield* allRuns(base, alice)
          assert.isAbove(alicesRuns.length, 0)
          const bobsRule = yield* createRule(base, bob, invoiceRule)

          const probes: ReadonlyArray<readonly [string, string, unknown]> = [
            ["GET", `/api/v1/rules/${rule}`, undefined],
            ["PATCH", `/api/v1/rules/${rule}`, { name: "stolen" }],
            ["PATCH", `/api/v1/rules/${rule}`, {}],
            ["DELETE", `/api/v1/rules/${rule}`, undefined],
            ["POST", `/api/v1/rules/${rule}/test`, {}],
            ["POST", `/api/v1/rules/${rule}/test`, { emailId: mail.emailId }],
            ["POST", `/api/v1/rules/${bobsRule}/test`, { emailId: mail.emailId }],
            ["POST", "/api/v1/rules/apply", { ruleIds: [rule] }],
            ["POST", "/api/v1/rules/apply", { ruleIds: [bobsRule, rule] }],
            ["POST", "/api/v1/rules/apply", { accountId: account }],
            ["GET", `/api/v1/rules/log?ruleId=${rule}`, undefined],
            ["GET", `/api/v1/rules/log?emailId=${mail.emailId}`, undefined]
          ]
          for (const [method, path, json] of probes) {
            const response = yield* call(base, method, path, {
              headers: as(bob),
              ...(json === undefined ? {} : { json })
            })
            assert.strictEqual(response.status, 404, `${method} ${path} as bob: ${response.text}`)
            assert.isString(field(response.body, "message"))
          }
          // bob's lists hold nothing of alice's
          const bobsList = yield* call(base, "GET", "/api/v1/rules", { headers: as(bob) })
          assert.deepStrictEqual(
            (field(bobsList.body, "items") as Array<unknown>).map((r) => field(r, "id")),
            [bobsRule]
          )
          const jobId = String(field(alicesRuns[0], "jobId"))
          assert.lengthOf(yield* allRuns(base, bob), 0)
          assert.lengthOf(yield* allRuns(base, bob, `jobId=${jobId}`), 0)
          // and alice's rule is untouched
          const mine = yield* call(base, "GET", `/api/v1/rules/${rule}`, { headers: as(alice) })
          assert.strictEqual(field(mine.body, "name"), invoiceRule.name)
          yield* deleteAllRules(base, alice)
          yield* deleteAllRules(base, bob)
        })
      )
    })

    describe("the execution log", () => {
      it.effect("pages with a cursor and filters by rule, email, job and outcome", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const account = yield* seedAccount(carol, server, "alice-api")
          const seeded = yield* seedMessages(
            carol,
            account,
            server,
            "alice-api",
            "INBOX",
            Array.from({ length: 7 }, (_, i) => ({
              subject: `Newsletter ${i}`,
              from: { name: "N", address: "n@news.example" }
            }))
          )
          const tagRule = yield* createRule(base, carol, {
            name: "tag news",
            priority: 1,
            conditions: [{ field: "from", op: "domain", value: "news.example" }],
            actions: [{ type: "addTag", tag: "news" }]
          })
          const prioRule = yield* createRule(base, carol, {
            name: "low priority news",
            priority: 2,
            conditions: [{ field: "subject", op: "contains", value: "newsletter" }],
            actions: [{ type: "setPriority", urgency: 1, importance: 1 }]
          })
          const { jobId } = yield* applyAndWait(base, carol)
          const runs = yield* allRuns(base, carol, "limit=3")
          assert.lengthOf(runs, 14)
          assert.strictEqual(new Set(runs.map((r) => field(r, "id"))).size, 14)
          for (const run of runs) {
            assert.strictEqual(field(run, "jobId"), jobId)
            assert.strictEqual(field(run, "outcome"), "applied")
            assert.strictEqual(field(run, "trigger"), "manual")
            assert.strictEqual(field(run, "error"), null)
          }
          const byRule = yield* allRuns(base, carol, `ruleId=${prioRule}`)
          assert.lengthOf(byRule, 7)
          assert.deepStrictEqual(field(byRule[0], "actions"), [
            { action: { type: "setPriority", urgency: 1, importance: 1 }, status: "applied" }
          ])
          assert.strictEqual(field(byRule[0], "rule", "name"), "low priority news")
          const first = seeded[0]
          if (first === undefined) throw new Error("seeding failed")
          const byEmail = yield* allRuns(base, carol, `emailId=${first.emailId}`)
          assert.sameMembers(
            byEmail.map((r) => field(r, "rule", "id")),
            [tagRule, prioRule]
          )
          assert.strictEqual(field(byEmail[0], "email", "subject"), "Newsletter 0")
          assert.strictEqual(field(byEmail[0], "email", "mailbox"), "INBOX")
          assert.lengthOf(yield* allRuns(base, carol, "outcome=failed"), 0)
          const effective = yield* stored(carol, first.emailId)
          assert.deepStrictEqual(effective.tags, ["news"])
          assert.strictEqual(effective.urgency, 1)
          assert.strictEqual(effective.importance, 1)

          const bad = yield* call(base, "GET", "/api/v1/rules/log?cursor=nonsense", { headers: as(carol) })
          assert.strictEqual(bad.status, 400)
          // a deleted rule's runs stay, by name
          yield* call(base, "DELETE", `/api/v1/rules/${tagRule}`, { headers: as(carol) })
          const kept = (yield* allRuns(base, carol)).filter((r) => field(r, "rule", "name") === "tag news")
          assert.lengthOf(kept, 7)
          assert.strictEqual(field(kept[0], "rule", "id"), null)
          yield* deleteAllRules(base, carol)
        })
      )
    })
  }
)
