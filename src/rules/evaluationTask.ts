/**
 * One evaluation task, as the rule-evaluation threads run it (evaluationWorker.ts) and as the
 * in-process evaluator runs it: the same code on the same cut text, so a dry run
 * (`POST /rules/:id/test`) predicts `rules.apply`.
 *
 * Loaded by Node directly in the worker threads (built-in type stripping): erasable syntax only, and
 * no imports beyond the pure evaluator.
 */
import { getHeapStatistics } from "node:v8"
import { Result } from "effect"
import {
  type CompiledRule,
  compileRuleResult,
  diffPlan,
  dryRunRule,
  effectiveScore,
  formatEvaluation,
  type PlannedAction,
  planActions,
  type RuleEvaluation,
  type RuleSubject
} from "./evaluate.ts"
import type { RuleAction, RuleInput } from "../contract/rules/Rule.ts"

/** A rule as it crosses the thread boundary: its id and its decoded input. */
export interface WireRule {
  readonly id: string
  readonly input: RuleInput
}

/** A `RuleSubject` without its function (structured clone cannot copy one). */
export type WireSubject = Omit<RuleSubject, "scoreOf"> & {
  /** The subject derives its score from urgency and importance (`effectiveScore`). */
  readonly derivedScore: boolean
}

export const toWireSubject = (subject: RuleSubject): WireSubject => {
  const { scoreOf, ...rest } = subject
  return { ...rest, derivedScore: scoreOf !== undefined }
}

const fromWireSubject = (wire: WireSubject): RuleSubject => {
  const { derivedScore, ...rest } = wire
  return derivedScore ? { ...rest, scoreOf: effectiveScore } : rest
}

/** A dry run of one rule on one message. */
export interface TestOutcome {
  readonly _tag: "test"
  readonly evaluation: RuleEvaluation
  readonly explanation: string
  readonly changes: ReadonlyArray<RuleAction>
}

/** The settled plan of every rule on one message: whether any matched, and what would change. */
export interface PlanOutcome {
  readonly _tag: "plan"
  readonly matched: boolean
  readonly changes: ReadonlyArray<PlannedAction>
}

export type TaskKind = "test" | "plan"

export interface EvaluationTask {
  readonly id: number
  readonly kind: TaskKind
  /** One rule for "test" (evaluated even when disabled); the user's enabled rules for "plan". */
  readonly rules: ReadonlyArray<WireRule>
  readonly subjects: ReadonlyArray<WireSubject>
  /** Epoch milliseconds after which no further message is started (null: no budget). */
  readonly deadlineAt: number | null
}

export type TaskMessage =
  /** The thread has loaded and listens (timeouts count from here, not from its start). */
  | { readonly id: 0; readonly type: "ready" }
  | {
      readonly id: number
      readonly type: "result"
      readonly index: number
      readonly outcome: TestOutcome | PlanOutcome
    }
  | { readonly id: number; readonly type: "done"; readonly evaluated: number; readonly stopped: "time_budget" | null }

// A job evaluates many pages with the same rules: compile them once per thread.
const compiledCache = new Map<string, ReadonlyArray<CompiledRule>>()

const compileAll = (rules: ReadonlyArray<WireRule>): ReadonlyArray<CompiledRule> => {
  const key = JSON.stringify(rules)
  const known = compiledCache.get(key)
  if (known !== undefined) return known
  const compiled: Array<CompiledRule> = []
  // the caller compiled (and logged) them first: one that fails here was already left out
  for (const rule of rules) {
    const result = compileRuleResult(rule.input, { id: rule.id })
    if (Result.isSuccess(result)) compiled.push(result.success)
  }
  if (compiledCache.size >= 8) compiledCache.clear()
  compiledCache.set(key, compiled)
  return compiled
}

/** Evaluates one message. */
export const evaluateOne = (
  kind: TaskKind,
  rules: ReadonlyArray<CompiledRule>,
  wire: WireSubject
): TestOutcome | PlanOutcome => {
  const subject = fromWireSubject(wire)
  if (kind === "test") {
    const [rule] = rules
    if (rule === undefined) throw new Error("a test task needs its rule")
    const dry = dryRunRule(rule, subject)
    return {
      _tag: "test",
      evaluation: dry.evaluation,
      explanation: formatEvaluation(dry.evaluation),
      changes: dry.changes.map((change) => change.action)
    }
  }
  const plan = planActions(rules, subject)
  return { _tag: "plan", matched: plan.matchedRules.length > 0, changes: diffPlan(plan, subject) }
}

/**
 * re2js keeps a lazily built DFA of up to 8 MB per regex (not configurable), and a compiled rule keeps
 * its regexes: past this much heap the compiled rules are dropped and compiled afresh (about a
 * millisecond per regex), so a user with many regexes does not fill the thread's heap.
 */
export const retainedHeapLimitBytes = 96 * 1024 * 1024

/** Runs a task message by message, handing each result to `emit` as soon as it is known. */
export const runTask = (task: EvaluationTask, emit: (message: TaskMessage) => void): void => {
  let rules = compileAll(task.rules)
  let evaluated = 0
  for (const [index, subject] of task.subjects.entries()) {
    if (task.deadlineAt !== null && Date.now() >= task.deadlineAt) {
      emit({ id: task.id, type: "done", evaluated, stopped: "time_budget" })
      return
    }
    emit({ id: task.id, type: "result", index, outcome: evaluateOne(task.kind, rules, subject) })
    evaluated += 1
    if (getHeapStatistics().used_heap_size > retainedHeapLimitBytes) {
      compiledCache.clear()
      rules = compileAll(task.rules)
    }
  }
  emit({ id: task.id, type: "done", evaluated, stopped: null })
}
