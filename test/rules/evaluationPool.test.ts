/**
 * The evaluation pool (src/rules/RuleEvaluator.ts) with real worker threads: results in order, a hung
 * message ends its thread (skipped or resumed after it), a crashed thread is replaced, a spent budget
 * skips what was not started. The entry must load with Node's own type stripping (no loader).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { RuleSubject } from "../../src/rules/evaluate.ts"
import { RuleEvaluator } from "../../src/rules/RuleEvaluator.ts"
import { message, rule } from "./fixtures.ts"

const invoices = { id: "r1", input: rule({ conditions: [{ field: "subject", op: "contains", value: "rechnung" }] }) }
const subject = (text: string): RuleSubject => message({ subject: text })
const faulty = new URL("./support/faultyEvaluationWorker.ts", import.meta.url)
const outcomes = (run: { readonly results: ReadonlyArray<{ readonly _tag: string; readonly reason?: string }> }) =>
  run.results.map((r) => (r._tag === "evaluated" ? "ok" : (r.reason ?? "?")))

describe("RuleEvaluator pool", () => {
  it.effect("evaluates in a thread started without a TypeScript loader, results in the callers' order", () =>
    Effect.gen(function* () {
      const evaluator = yield* RuleEvaluator
      const run = yield* evaluator.plan(
        [invoices],
        [subject("Ihre Rechnung"), subject("Hallo"), subject("RECHNUNG 2")],
        {
          hangMs: 30_000,
          resume: true
        }
      )
      assert.deepStrictEqual(outcomes(run), ["ok", "ok", "ok"])
      assert.deepStrictEqual(
        run.results.map((r) => r._tag === "evaluated" && r.outcome.matched),
        [true, false, true]
      )
      const test = yield* evaluator.test(invoices, [subject("Rechnung")], { hangMs: 30_000, resume: false })
      const [first] = test.results
      assert.isTrue(first?._tag === "evaluated" && first.outcome.evaluation.matched)
    }).pipe(Effect.provide(RuleEvaluator.layerPool(1)))
  )

  it.effect("a spent budget skips every message not started", () =>
    Effect.gen(function* () {
      const evaluator = yield* RuleEvaluator
      const run = yield* evaluator.plan([invoices], [subject("a"), subject("b")], {
        budgetMs: 0,
        hangMs: 30_000,
        resume: false
      })
      assert.deepStrictEqual(outcomes(run), ["time_budget", "time_budget"])
      assert.strictEqual(run.reason, "time_budget")
      assert.strictEqual(run.skipped, 2)
    }).pipe(Effect.provide(RuleEvaluator.layerPool(1)))
  )

  it.effect("a hung message ends its thread: skipped with the rest (dry run) or the rest resumes (apply)", () =>
    Effect.gen(function* () {
      const evaluator = yield* RuleEvaluator
      const subjects = [subject("Rechnung"), subject("hang"), subject("Rechnung 2")]
      const dry = yield* evaluator.test(invoices, subjects, { hangMs: 300, resume: false })
      assert.deepStrictEqual(outcomes(dry), ["ok", "evaluation_timeout", "evaluation_timeout"])
      const apply = yield* evaluator.plan([invoices], subjects, { hangMs: 300, resume: true })
      assert.deepStrictEqual(outcomes(apply), ["ok", "evaluation_timeout", "ok"])
      // the pool replaced the thread
      const after = yield* evaluator.plan([invoices], [subject("Rechnung")], { hangMs: 30_000, resume: true })
      assert.deepStrictEqual(outcomes(after), ["ok"])
    }).pipe(Effect.provide(RuleEvaluator.layerPool(1, faulty)))
  )

  it.effect("a thread that dies is reported evaluation_failed and replaced", () =>
    Effect.gen(function* () {
      const evaluator = yield* RuleEvaluator
      const run = yield* evaluator.plan([invoices], [subject("crash"), subject("Rechnung")], {
        hangMs: 30_000,
        resume: true
      })
      assert.deepStrictEqual(outcomes(run), ["evaluation_failed", "ok"])
    }).pipe(Effect.provide(RuleEvaluator.layerPool(1, faulty)))
  )
})
