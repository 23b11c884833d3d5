/**
 * Rule evaluation off the event loop. re2js is linear-time, but linear in a large body times many
 * user-written regexes is still long: one regex near the size cap costs 0.2-0.3 s on a 16 KiB body
 * (`npx tsx bench/rules-regex.ts`), and a single match cannot be interrupted. So the API's dry runs
 * and the worker's `rules.apply` evaluate in a small pool of worker threads (evaluationWorker.ts):
 * the calling thread only sends messages and waits, its event loop (HTTP requests, health checks,
 * BullMQ lock renewal) stays free.
 *
 * Bounds, per call:
 * - `budgetMs` (dry runs): wall-clock time including the wait for a free thread; messages not
 *   started by then are skipped and reported (`reason: "time_budget"`).
 * - `hangMs`: a single message running longer than this ends its thread (terminated, replaced);
 *   that message is reported `evaluation_timeout`. With `resume` (apply) the rest of the messages
 *   go on in a fresh thread; without (dry run) they are skipped.
 * Per message the work is bounded by the evaluator's text cuts (`EvaluationLimits`) and the
 * schema's regex size caps; both paths use the same code (evaluationTask.ts).
 */
import * as os from "node:os"
import { type ResourceLimits, Worker } from "node:worker_threads"
import { Config, Context, Effect, Layer, Result } from "effect"
import { compileRuleResult, type RuleSubject } from "./evaluate.ts"
import {
  type EvaluationTask,
  evaluateOne,
  type PlanOutcome,
  type TaskKind,
  type TaskMessage,
  type TestOutcome,
  toWireSubject,
  type WireRule
} from "./evaluationTask.ts"

/**
 * time_budget: the call's budget ran out before the message was started; evaluation_timeout: the
 * message ran over `hangMs`; evaluation_failed: its thread died (e.g. out of memory).
 */
export type SkipReason = "time_budget" | "evaluation_timeout" | "evaluation_failed"

export type Evaluated<O> =
  | { readonly _tag: "evaluated"; readonly outcome: O }
  | { readonly _tag: "skipped"; readonly reason: SkipReason }

export interface EvaluationRun<O> {
  /** In the order of the subjects. */
  readonly results: ReadonlyArray<Evaluated<O>>
  readonly evaluated: number
  readonly skipped: number
  /** Why messages were skipped (the first reason met), null when none was. */
  readonly reason: SkipReason | null
}

export interface EvaluateOptions {
  /** Wall-clock budget of the whole call, queue wait included (none: every message is evaluated). */
  readonly budgetMs?: number | undefined
  /** One message running longer than this ends its thread; it is reported `evaluation_timeout`. */
  readonly hangMs: number
  /** After such a timeout, go on with the remaining messages (true) or skip them (false). */
  readonly resume: boolean
}

export const EvaluationBudgets = {
  /** A dry run (`POST /rules/:id/test`): at most this long, waiting for a thread included. */
  dryRunBudgetMs: 5_000,
  /** A dry-run message taking longer ends its thread (measured worst case within the caps: about 2 s). */
  dryRunHangMs: 10_000,
  /** An apply message taking longer ends its thread (up to 200 rules are evaluated per message). */
  applyHangMs: 120_000
} as const

export interface RuleEvaluatorShape {
  /** Dry run of one rule (also a disabled one) on each subject. */
  readonly test: (
    rule: WireRule,
    subjects: ReadonlyArray<RuleSubject>,
    options: EvaluateOptions
  ) => Effect.Effect<EvaluationRun<TestOutcome>>
  /** The settled plan of the rules (enabled ones, in the caller's order) on each subject. */
  readonly plan: (
    rules: ReadonlyArray<WireRule>,
    subjects: ReadonlyArray<RuleSubject>,
    options: EvaluateOptions
  ) => Effect.Effect<EvaluationRun<PlanOutcome>>
}

/**
 * Heap per evaluation thread. A page of messages is a few MB; re2js' DFAs are up to 8 MB per regex
 * (the thread drops its compiled rules past `retainedHeapLimitBytes`). A message that needs more ends
 * its thread and is reported `evaluation_failed`; the process is not affected.
 */
export const defaultEvaluatorResourceLimits: ResourceLimits = {
  maxOldGenerationSizeMb: 192,
  maxYoungGenerationSizeMb: 8
}

export class RuleEvaluator extends Context.Service<RuleEvaluator, RuleEvaluatorShape>()("mail-helper/RuleEvaluator") {
  /** A pool of `threads` worker threads, terminated when the layer's scope closes. */
  static readonly layerPool = (threads: number, entry: URL = workerUrl) =>
    Layer.effect(
      RuleEvaluator,
      Effect.gen(function* () {
        const pool = yield* Effect.acquireRelease(
          Effect.sync(() => new EvaluationPool(Math.max(1, Math.floor(threads)), entry)),
          (pool) => Effect.promise(() => pool.close())
        )
        return poolEvaluator(pool)
      })
    )

  /** Pool sized by RULES_EVAL_THREADS (default: 2, or 1 on a single core). */
  static readonly layerConfig = Layer.unwrap(
    Effect.gen(function* () {
      const threads = yield* Config.Int("RULES_EVAL_THREADS").pipe(
        Config.withDefault(Math.min(2, os.availableParallelism()))
      )
      return RuleEvaluator.layerPool(threads)
    })
  )

  /**
   * Evaluates on the calling thread, yielding between messages: benchmarks and tests of the evaluation
   * itself. Not for the API or the worker (one message can take seconds).
   */
  static readonly layerInProcess = Layer.succeed(
    RuleEvaluator,
    RuleEvaluator.of({
      test: (rule, subjects, options) =>
        Effect.map(inProcess("test", [rule], subjects, options), (r) => only(r, isTest)),
      plan: (rules, subjects, options) =>
        Effect.map(inProcess("plan", rules, subjects, options), (r) => only(r, isPlan))
    })
  )
}

const workerUrl = new URL("./evaluationWorker.ts", import.meta.url)

/**
 * The threads' Node flags: none under a TypeScript loader (tsx), inherited otherwise; the entry is
 * erasable TypeScript that Node 24 runs by itself (as src/sync/ParserPool.ts, which explains why).
 */
const workerExecArgv = (execArgv: ReadonlyArray<string>): Array<string> | undefined =>
  execArgv.some((arg) => /(^|[\\/=])tsx([\\/]|$)/.test(arg)) ? [] : undefined

type Outcome = TestOutcome | PlanOutcome

/** Keeps the outcomes of one kind (a task of that kind yields no other). */
const only = <O extends Outcome>(
  run: EvaluationRun<Outcome>,
  is: (outcome: Outcome) => outcome is O
): EvaluationRun<O> => ({
  ...run,
  results: run.results.map(
    (result): Evaluated<O> =>
      result._tag === "skipped"
        ? result
        : is(result.outcome)
          ? { _tag: "evaluated", outcome: result.outcome }
          : { _tag: "skipped", reason: "evaluation_failed" }
  )
})
const isTest = (outcome: Outcome): outcome is TestOutcome => outcome._tag === "test"
const isPlan = (outcome: Outcome): outcome is PlanOutcome => outcome._tag === "plan"

// ---------------------------------------------------------------------------------------------

const finish = <O>(results: Array<Evaluated<O> | undefined>): EvaluationRun<O> => {
  let evaluated = 0
  let reason: SkipReason | null = null
  const complete = results.map((result): Evaluated<O> => {
    if (result === undefined) {
      reason ??= "time_budget"
      return { _tag: "skipped", reason: "time_budget" }
    }
    if (result._tag === "evaluated") evaluated += 1
    else reason ??= result.reason
    return result
  })
  return { results: complete, evaluated, skipped: complete.length - evaluated, reason }
}

const inProcess = (
  kind: TaskKind,
  rules: ReadonlyArray<WireRule>,
  subjects: ReadonlyArray<RuleSubject>,
  options: EvaluateOptions
): Effect.Effect<EvaluationRun<Outcome>> =>
  Effect.gen(function* () {
    const deadlineAt = options.budgetMs === undefined ? null : Date.now() + options.budgetMs
    const compiled = rules.flatMap((rule) => {
      const result = compileRuleResult(rule.input, { id: rule.id })
      return Result.isSuccess(result) ? [result.success] : []
    })
    const results: Array<Evaluated<Outcome> | undefined> = subjects.map(() => undefined)
    for (const [index, subject] of subjects.entries()) {
      if (deadlineAt !== null && Date.now() >= deadlineAt) break
      results[index] = { _tag: "evaluated", outcome: evaluateOne(kind, compiled, toWireSubject(subject)) }
      yield* Effect.yieldNow
    }
    return finish(results)
  })

const poolEvaluator = (pool: EvaluationPool): RuleEvaluatorShape => {
  const run = (
    kind: TaskKind,
    rules: ReadonlyArray<WireRule>,
    subjects: ReadonlyArray<RuleSubject>,
    options: EvaluateOptions
  ): Effect.Effect<EvaluationRun<Outcome>> =>
    subjects.length === 0
      ? Effect.succeed({ results: [], evaluated: 0, skipped: 0, reason: null })
      : Effect.promise((signal) =>
          pool.run(
            kind,
            rules,
            subjects.map(toWireSubject),
            options.budgetMs === undefined ? null : Date.now() + options.budgetMs,
            options,
            signal
          )
        ).pipe(
          Effect.tap(({ failures }) =>
            failures.length === 0 ? Effect.void : Effect.logWarning("rule evaluation cut short", { failures })
          ),
          Effect.map(({ results }) => finish(results)),
          Effect.withSpan("rules.evaluate", {
            attributes: { "rules.kind": kind, "rules.count": rules.length, "rules.messages": subjects.length }
          })
        )
  return RuleEvaluator.of({
    test: (rule, subjects, options) => Effect.map(run("test", [rule], subjects, options), (r) => only(r, isTest)),
    plan: (rules, subjects, options) => Effect.map(run("plan", rules, subjects, options), (r) => only(r, isPlan))
  })
}

// ---------------------------------------------------------------------------------------------

interface Pending {
  readonly task: EvaluationTask
  /** Index of the task's first subject in the caller's list. */
  readonly offset: number
  readonly options: EvaluateOptions
  readonly signal: AbortSignal | undefined
  readonly results: Array<Evaluated<Outcome> | undefined>
  /** Why threads ended under this call (timeouts, crashes), for the caller's log. */
  readonly failures: Array<string>
  readonly resolve: () => void
}

interface Slot {
  worker: Worker | null
  /** The thread has loaded (its "ready" arrived): a running message's time counts from then. */
  ready: boolean
  lastError: string | null
  pending: Pending | null
  /** Results received for the running task (they arrive in order). */
  received: number
  hangTimer: ReturnType<typeof setTimeout> | null
  idleTimer: ReturnType<typeof setTimeout> | null
}

const isTaskMessage = (value: unknown): value is TaskMessage =>
  typeof value === "object" &&
  value !== null &&
  "id" in value &&
  typeof value.id === "number" &&
  "type" in value &&
  (value.type === "result" || value.type === "done" || value.type === "ready")

/** Idle threads stop after this (the next call starts them again). */
const idleMillis = 60_000

export class EvaluationPool {
  private readonly slots: Array<Slot> = []
  private readonly queue: Array<Pending> = []
  private nextId = 1
  private closed = false
  private readonly entry: URL

  constructor(size: number, entry: URL) {
    this.entry = entry
    for (let i = 0; i < size; i++)
      this.slots.push({
        worker: null,
        ready: false,
        lastError: null,
        pending: null,
        received: 0,
        hangTimer: null,
        idleTimer: null
      })
  }

  /** Threads running now (tests, diagnostics). */
  get liveThreads(): number {
    return this.slots.filter((slot) => slot.worker !== null).length
  }

  run(
    kind: TaskKind,
    rules: ReadonlyArray<WireRule>,
    subjects: ReadonlyArray<ReturnType<typeof toWireSubject>>,
    deadlineAt: number | null,
    options: EvaluateOptions,
    signal?: AbortSignal
  ): Promise<{ readonly results: Array<Evaluated<Outcome> | undefined>; readonly failures: ReadonlyArray<string> }> {
    const results: Array<Evaluated<Outcome> | undefined> = subjects.map(() => undefined)
    const failures: Array<string> = []
    if (this.closed) return Promise.resolve({ results, failures: ["the evaluation pool is closed"] })
    return new Promise((resolve) => {
      this.queue.push({
        task: { id: this.nextId++, kind, rules, subjects, deadlineAt },
        offset: 0,
        options,
        signal,
        results,
        failures,
        resolve: () => resolve({ results, failures })
      })
      this.dispatch()
    })
  }

  private start(slot: Slot): Worker {
    const execArgv = workerExecArgv(process.execArgv)
    const worker = new Worker(this.entry, {
      resourceLimits: defaultEvaluatorResourceLimits,
      ...(execArgv === undefined ? {} : { execArgv })
    })
    slot.worker = worker
    slot.ready = false
    slot.lastError = null
    worker.unref()
    worker.on("message", (message: unknown) => {
      if (isTaskMessage(message) && message.type === "ready") {
        slot.ready = true
        if (slot.pending !== null) this.armHang(slot, worker)
        return
      }
      const pending = slot.pending
      if (!isTaskMessage(message) || pending === null || message.id !== pending.task.id) return
      if (message.type === "result") {
        pending.results[pending.offset + message.index] = { _tag: "evaluated", outcome: message.outcome }
        slot.received += 1
        this.armHang(slot, worker)
        return
      }
      this.release(slot)
      pending.resolve()
      this.dispatch()
    })
    // an error is followed by "exit", handled there
    worker.on("error", (error: Error) => {
      slot.lastError = error.message
    })
    worker.on("exit", () => {
      if (this.closed || slot.worker !== worker) return
      slot.worker = null
      this.overrun(slot, "evaluation_failed")
    })
    return worker
  }

  /** The running message took too long (or its thread died): report it, then skip or resume the rest. */
  private overrun(slot: Slot, reason: "evaluation_timeout" | "evaluation_failed"): void {
    const pending = slot.pending
    const index = slot.received
    const detail =
      reason === "evaluation_timeout"
        ? `a message took longer than ${pending?.options.hangMs ?? 0} ms; its evaluation thread was stopped`
        : `the evaluation thread died${slot.lastError === null ? "" : `: ${slot.lastError}`}`
    this.release(slot)
    if (pending === null) {
      this.dispatch()
      return
    }
    pending.failures.push(detail)
    const at = pending.offset + index
    if (at < pending.results.length) pending.results[at] = { _tag: "skipped", reason }
    const rest = pending.task.subjects.slice(index + 1)
    if (pending.options.resume && rest.length > 0) {
      this.queue.unshift({
        ...pending,
        task: { ...pending.task, id: this.nextId++, subjects: rest },
        offset: at + 1
      })
    } else {
      for (let i = at + 1; i < pending.results.length; i++) {
        pending.results[i] = { _tag: "skipped", reason }
      }
      pending.resolve()
    }
    this.dispatch()
  }

  private armHang(slot: Slot, worker: Worker): void {
    if (slot.hangTimer !== null) clearTimeout(slot.hangTimer)
    const pending = slot.pending
    if (pending === null) return
    slot.hangTimer = setTimeout(() => {
      slot.hangTimer = null
      if (slot.worker !== worker) return
      slot.worker = null
      void worker.terminate()
      this.overrun(slot, "evaluation_timeout")
    }, pending.options.hangMs)
  }

  private release(slot: Slot): void {
    if (slot.hangTimer !== null) clearTimeout(slot.hangTimer)
    slot.hangTimer = null
    slot.pending = null
    slot.received = 0
    slot.worker?.unref()
    if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
    slot.idleTimer = setTimeout(() => {
      slot.idleTimer = null
      const worker = slot.worker
      if (slot.pending !== null || worker === null) return
      slot.worker = null
      void worker.terminate()
    }, idleMillis)
    slot.idleTimer.unref()
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.pending !== null) continue
      let next = this.queue.shift()
      while (next !== undefined) {
        // a caller that went away, or whose budget ran out while it waited: nothing to evaluate
        if (next.signal?.aborted === true) {
          next.resolve()
        } else if (next.task.deadlineAt !== null && Date.now() >= next.task.deadlineAt) {
          next.resolve()
        } else {
          break
        }
        next = this.queue.shift()
      }
      if (next === undefined) return
      slot.pending = next
      slot.received = 0
      if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
      slot.idleTimer = null
      const worker = slot.worker ?? this.start(slot)
      worker.ref()
      // a thread that is still loading arms the timer when it is ready
      if (slot.ready) this.armHang(slot, worker)
      worker.postMessage(next.task)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const pending of this.queue.splice(0)) pending.resolve()
    await Promise.all(
      this.slots.map(async (slot) => {
        const pending = slot.pending
        this.release(slot)
        if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
        pending?.resolve()
        const worker = slot.worker
        slot.worker = null
        if (worker !== null) await worker.terminate()
      })
    )
  }
}
