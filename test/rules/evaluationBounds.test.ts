/**
 * Item 5: rule evaluation must not hold the event loop. Heavy but valid rules (4 body regexes whose
 * DFA explodes, so re2js runs its NFA: hundreds of ms per KiB-range match) over 64 KiB bodies, while
 * this process (which runs the API and the worker) measures its own event-loop delay.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { seededRandom } from "../../src/platform/seededRandom.ts"
import { EvaluationLimits } from "../../src/rules/evaluate.ts"
import { EvaluationBudgets } from "../../src/rules/RuleEvaluator.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { allRuns, applyAndWait, as, createRule, rulesTestLayer, seedAccount, seedMailbox, userId } from "./support.ts"

/**
 * A hang bound, not a performance target: far above what evaluation now costs this loop (nothing; it
 * runs in the evaluation threads), above the occasional full GC of this busy test process (up to about
 * 320 ms seen on the shared 2-core machine), far below what the old code did (2-3 s per message here:
 * 4 such regexes on 64 KiB).
 */
const HANG_BOUND_MS = 600

const randomText = (chars: number, seed: number): string => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz "
  const random = seededRandom(seed)
  const out: Array<string> = []
  for (let i = 0; i < chars; i++) out.push(alphabet[Math.floor(random() * alphabet.length)] ?? " ")
  return out.join("")
}

/** 64 KiB of random letters (no digit: the heavy regexes match nothing), with `insert` at `at`. */
const body = (seed: number, insert?: { readonly at: number; readonly text: string }) => {
  const text = randomText(64 * 1024, seed)
  return insert === undefined ? text : `${text.slice(0, insert.at)}${insert.text}${text.slice(insert.at)}`
}

const classes = ["[a-m]", "[n-z]", "[aeiou]", "[b-y]", "[c-x]", "[d-w]", "[e-v]"]
const digits = ["[0-9]", "[0-5]", "[6-9]", "[0-3]", "[4-7]", "[1-8]", "[2-6]"]
/** 7 alternatives `class.{100}digit` (program size 722): re2js' DFA gives up, its NFA runs (bench/rules-regex.ts). */
const heavyRegex = (offset: number): string =>
  classes.map((_, i) => `${classes[(i + offset) % 7]}.{100}${digits[(i + offset) % 7]}`).join("|")

/** A match for `[a-m].{100}[0-9]`, an alternative of every heavyRegex. */
const MATCH = `a${"b".repeat(100)}5`

const heavyRule = {
  name: "heavy body regexes",
  priority: 1,
  conditions: [0, 1, 2, 3].map((offset) => ({ field: "body", op: "regex", value: heavyRegex(offset) })),
  match: "any",
  actions: [{ type: "addTag", tag: "heavy" }]
}

const insertEmails = (owner: string, accountId: string, mailboxId: string, bodies: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const ids: Array<string> = []
    for (const [i, text] of bodies.entries()) {
      const rows = yield* scope.run(
        userId(owner),
        sql<{ readonly id: string }>`
          INSERT INTO emails (user_id, account_id, mailbox_id, uid_validity, uid, message_id, thread_id, subject,
                              from_name, from_address, to_addresses, flags, seen, flagged, text_body,
                              has_attachments, sent_at, received_at, analysis_state)
          VALUES (${owner}, ${accountId}, ${mailboxId}, 1, ${i + 1}, ${`<heavy-${i}@test>`}, ${`<heavy-${i}@test>`},
                  ${`heavy ${i}`}, 'Sender', 'sender@example.com', '[]'::jsonb, '{}', false, false, ${text}, false,
                  now() - make_interval(mins => ${i}), now(), 'pending')
          RETURNING id`
      )
      ids.push(rows[0]?.id ?? "")
    }
    return ids
  }).pipe(Effect.orDie)

/** Runs `effect` while sampling this process's event-loop delay; returns its result and the worst delay in ms. */
const withLoopDelay = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const histogram = monitorEventLoopDelay({ resolution: 10 })
    histogram.enable()
    const result = yield* effect.pipe(Effect.ensuring(Effect.sync(() => histogram.disable())))
    return { result, maxDelayMs: histogram.max / 1e6 }
  })

layer(rulesTestLayer(["heavy-dry", "heavy-apply"]), { excludeTestServices: true, timeout: "180 seconds" })(
  "rule evaluation off the event loop",
  (it) => {
    describe("dry run", () => {
      it.effect(
        "4 heavy body regexes over 20 messages of 64 KiB: the loop stays free, the answer says what was cut",
        () =>
          Effect.gen(function* () {
            const base = yield* baseUrl
            const server = yield* Dovecot
            const owner = "e5000001-0000-4000-8000-000000000001"
            const account = yield* seedAccount(owner, server, "heavy-dry")
            const mailbox = yield* seedMailbox(owner, account, server, "heavy-dry", "INBOX")
            yield* insertEmails(
              owner,
              account,
              mailbox,
              Array.from({ length: 20 }, (_, i) => body(i + 1))
            )
            const ruleId = yield* createRule(base, owner, heavyRule)

            const { result: response, maxDelayMs } = yield* withLoopDelay(
              call(base, "POST", `/api/v1/rules/${ruleId}/test`, { json: { limit: 20 }, headers: as(owner) })
            )
            assert.strictEqual(response.status, 200, response.text.slice(0, 500))
            console.log(
              `dry run, 20 x 64 KiB, 4 heavy regexes: worst event-loop delay ${maxDelayMs.toFixed(0)} ms; ` +
                `truncated ${JSON.stringify(field(response.body, "truncated"))}`
            )
            assert.isBelow(maxDelayMs, HANG_BOUND_MS, `event loop held for ${maxDelayMs.toFixed(0)} ms`)

            const truncated = field(response.body, "truncated")
            const evaluated = Number(field(truncated, "messagesEvaluated"))
            const skipped = Number(field(truncated, "messagesSkipped"))
            assert.strictEqual(evaluated + skipped, 20)
            assert.strictEqual(field(truncated, "bodyCharsPerRegexCondition"), EvaluationLimits.maxRegexBodyChars)
            assert.strictEqual(field(truncated, "bodyCharsPerCondition"), EvaluationLimits.maxBodyChars)
            assert.strictEqual(field(truncated, "messagesWithCutBody"), evaluated)
            assert.strictEqual(field(truncated, "budgetMs"), EvaluationBudgets.dryRunBudgetMs)
            // about 20 s of matching for a 5 s budget: the rest is skipped and named
            assert.isAbove(skipped, 0)
            assert.strictEqual(field(truncated, "reason"), "time_budget")
            const results = field(response.body, "results")
            const skippedList = field(response.body, "skipped")
            assert.isTrue(Array.isArray(results) && Array.isArray(skippedList))
            if (!Array.isArray(results) || !Array.isArray(skippedList)) return
            assert.strictEqual(results.length, evaluated)
            assert.strictEqual(skippedList.length, skipped)
            for (const entry of skippedList) assert.strictEqual(field(entry, "reason"), "time_budget")
            for (const entry of results) assert.strictEqual(field(entry, "matched"), false)
          })
      )
    })

    describe("apply", () => {
      it.effect("rules.apply keeps the worker's loop free and decides exactly as the dry run predicted", () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const server = yield* Dovecot
          const owner = "e5000002-0000-4000-8000-000000000002"
          const account = yield* seedAccount(owner, server, "heavy-apply")
          const mailbox = yield* seedMailbox(owner, account, server, "heavy-apply", "INBOX")
          const cut = EvaluationLimits.maxRegexBodyChars
          // early: a match well inside the regex cut; late: only after it (a 64 KiB cut would see it); none
          const [early, late, none] = yield* insertEmails(owner, account, mailbox, [
            body(101, { at: cut / 2, text: MATCH }),
            body(102, { at: cut + 5_000, text: MATCH }),
            body(103)
          ])
          if (early === undefined || late === undefined || none === undefined) throw new Error("seeding failed")
          const ruleId = yield* createRule(base, owner, heavyRule)

          const predicted = new Map<string, boolean>()
          for (const emailId of [early, late, none]) {
            const response = yield* call(base, "POST", `/api/v1/rules/${ruleId}/test`, {
              json: { emailId },
              headers: as(owner)
            })
            assert.strictEqual(response.status, 200, response.text.slice(0, 500))
            predicted.set(emailId, field(response.body, "results", 0, "matched") === true)
          }
          assert.deepStrictEqual(
            [predicted.get(early), predicted.get(late), predicted.get(none)],
            [true, false, false],
            "the dry run looks at the first 16 KiB of the body for regexes"
          )

          const { result, maxDelayMs } = yield* withLoopDelay(applyAndWait(base, owner))
          console.log(`rules.apply, 3 x 64 KiB, 4 heavy regexes: worst event-loop delay ${maxDelayMs.toFixed(0)} ms`)
          assert.isBelow(maxDelayMs, HANG_BOUND_MS, `event loop held for ${maxDelayMs.toFixed(0)} ms`)
          assert.strictEqual(field(result.job, "result", "messages"), 3)
          assert.strictEqual(field(result.job, "result", "matched"), 1)
          assert.strictEqual(field(result.job, "result", "evaluationTimeouts"), 0)
          const runs = yield* allRuns(base, owner)
          assert.deepStrictEqual(
            runs.map((run) => field(run, "email", "id")),
            [early],
            "the apply changed exactly what the dry run said would match"
          )
        })
      )
    })
  }
)
