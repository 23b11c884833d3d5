/**
 * How many messages `POST /rules/apply` would change now: the same selection, the same rules and the
 * same evaluation (in the evaluation threads) as the `rules.apply` job, without touching anything.
 * The endpoint refuses to start a run on past mail until the caller confirms this number.
 */
import { Effect } from "effect"
import type { DatabaseError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import type { WireRule } from "./evaluationTask.ts"
import { compileStored } from "./RuleExecutor.ts"
import { EvaluationBudgets, RuleEvaluator } from "./RuleEvaluator.ts"
import { type MessageSelection, RuleMailStore, type RuleMessage } from "./RuleMailStore.ts"
import { RuleStore } from "./RuleStore.ts"
import { ApplyConfirmationRequired } from "../contract/rules/RuleSchemas.ts"

export const PreviewLimits = {
  /** Counting stops after this long; the answer is then the number of selected messages (not exact). */
  budgetMs: 20_000,
  pageSize: 200
} as const

export interface ApplyPreview {
  /** Messages at least one change would be made to (exact) or, when counting ran out of time, selected. */
  readonly count: number
  readonly exact: boolean
  /** Messages the run looks at. */
  readonly selected: number
}

/** The refusal of `POST /rules/apply` whose `confirm` is missing or does not match the preview. */
export const confirmationRequired = (
  preview: ApplyPreview,
  confirmed: number | undefined
): ApplyConfirmationRequired => {
  const what = preview.exact
    ? `this run would change ${preview.count} message(s) now (of ${preview.selected} it looks at)`
    : `the messages this run would change could not be counted within ${PreviewLimits.budgetMs / 1000} s; ` +
      `it looks at ${preview.selected} message(s) (narrow it with mailbox, since or accountId to get an exact count)`
  const message =
    confirmed === undefined
      ? `applying rules to past mail needs a confirmation: ${what}; send the same request with "confirm": ${preview.count}`
      : `the confirmation does not match: you confirmed ${confirmed}, but ${what}; check with a dry run ` +
        `(POST /rules/:id/test) and send "confirm": ${preview.count}`
  return new ApplyConfirmationRequired({
    message,
    count: preview.count,
    exact: preview.exact,
    selected: preview.selected,
    confirmed: confirmed ?? null
  })
}

export const previewApply = (
  ownerId: UserId,
  ruleIds: ReadonlyArray<string> | undefined,
  selection: MessageSelection
): Effect.Effect<ApplyPreview, DatabaseError, RuleStore | RuleMailStore | RuleEvaluator> =>
  Effect.gen(function* () {
    const store = yield* RuleStore
    const mail = yield* RuleMailStore
    const evaluator = yield* RuleEvaluator
    const all = yield* store.list(ownerId)
    const wanted = ruleIds === undefined ? undefined : new Set(ruleIds)
    const rules = yield* compileStored(
      all.filter((rule) => rule.input.enabled && (wanted === undefined || wanted.has(rule.id)))
    )
    const selected = yield* mail.count(ownerId, selection)
    if (rules.length === 0) return { count: 0, exact: true, selected }
    const wireRules = rules.map((rule): WireRule => ({ id: rule.id ?? "", input: rule.source }))
    const deadline = Date.now() + PreviewLimits.budgetMs
    let count = 0
    let afterId: string | null = null
    while (true) {
      const page: ReadonlyArray<RuleMessage> = yield* mail.page(ownerId, selection, afterId, PreviewLimits.pageSize)
      if (page.length === 0) break
      afterId = page[page.length - 1]?.id ?? afterId
      const run = yield* evaluator.plan(
        wireRules,
        page.map((message) => message.state),
        { budgetMs: Math.max(0, deadline - Date.now()), hangMs: EvaluationBudgets.applyHangMs, resume: true }
      )
      if (run.reason === "time_budget") return { count: selected, exact: false, selected }
      for (const result of run.results) {
        if (result._tag === "evaluated" && result.outcome.changes.length > 0) count += 1
      }
      if (page.length < PreviewLimits.pageSize) break
    }
    return { count, exact: true, selected }
  }).pipe(Effect.withSpan("rules.previewApply"))
