import { Clock, Context, Effect, Layer, Option, Queue, Schema, type Scope } from "effect"
import { boundedInt } from "./Config.ts"

/**
 * Gives a worker's free malloc memory back to the system once it has been idle for a while after
 * work (issue 17). After a sync, glibc's main arena keeps ~35-41 MB of free chunks below live ones
 * (the holes of message sources, transfer copies, pg buffers); glibc only returns the top of a heap
 * on its own, and `malloc_trim(0)` (which madvises every whole free page in every arena) is the one
 * call that returns the rest (measured: 282 -> 241 MB idle RSS, docs/operations.md "Worker memory
 * after a sync"). It is called through koffi (FFI), once per idle period, never while a job runs.
 *
 * Only the worker program provides it (src/main/worker.ts); the job runtime tells it when jobs start
 * and end when it is there (`Effect.serviceOption`), so the API + worker process of
 * src/main/start.ts does not trim.
 */

/** Why this process cannot call glibc's malloc_trim (not Linux, no glibc such as musl, koffi missing). */
export class MallocTrimUnavailable extends Schema.TaggedError<MallocTrimUnavailable>()("MallocTrimUnavailable", {
  message: Schema.String
}) {}

/** A malloc_trim call that threw or answered something other than 0 or 1 (a bug of the binding). */
export class MallocTrimFailed extends Schema.TaggedError<MallocTrimFailed>()("MallocTrimFailed", {
  message: Schema.String
}) {}

/** malloc_trim(0): true when memory was returned to the system (glibc answers 1), false when nothing could be. */
export type MallocTrim = () => Effect.Effect<boolean, MallocTrimFailed>

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** glibc's malloc_trim through koffi; fails with MallocTrimUnavailable where there is no glibc (musl, macOS). */
export const loadMallocTrim: Effect.Effect<MallocTrim, MallocTrimUnavailable> = Effect.gen(function* () {
  if (process.platform !== "linux") {
    return yield* new MallocTrimUnavailable({ message: `malloc_trim is glibc's, this is ${process.platform}` })
  }
  const koffi = yield* Effect.tryPromise({
    try: () => import("koffi"),
    catch: (error) => new MallocTrimUnavailable({ message: `koffi does not load: ${reason(error)}` })
  })
  const call = yield* Effect.try({
    try: () => koffi.load("libc.so.6").func("int malloc_trim(size_t)"),
    catch: (error) => new MallocTrimUnavailable({ message: `no glibc malloc_trim in libc.so.6: ${reason(error)}` })
  })
  return () =>
    Effect.try({
      try: (): unknown => call(0),
      catch: (error) => new MallocTrimFailed({ message: `malloc_trim threw: ${reason(error)}` })
    }).pipe(
      Effect.flatMap((result) =>
        result === 0 || result === 1
          ? Effect.succeed(result === 1)
          : Effect.fail(new MallocTrimFailed({ message: `malloc_trim answered ${String(result)}` }))
      )
    )
})

const megabytes = (bytes: number) => Math.round(bytes / 1024 / 1024)

/** What the job runtime tells the idle trimmer. */
export interface IdleMemoryShape {
  readonly jobStarted: Effect.Effect<void>
  readonly jobEnded: Effect.Effect<void>
}

/**
 * The idle detector: `delayMillis` after the last running job ended (and no job started since), one
 * trim; the next trim needs a job to run and end again. A trim that fails is logged and the worker
 * goes on.
 *
 * One fiber for the worker's life, forked here with the layer's context (forked from the job that
 * ended last, its log line would carry that job's annotations: kind, job id). A job's start and end
 * only update counters and the time of the last end, and wake the fiber when the worker became idle;
 * the fiber sleeps until that time plus the delay, and trims if no job ran in between.
 */
export const makeIdleMemory = (
  trim: MallocTrim,
  delayMillis: number
): Effect.Effect<IdleMemoryShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Clock.Clock
    let running = 0
    /** An idle period began (the last running job ended) and has not been trimmed yet. */
    let idleSince: number | undefined
    const wake = yield* Queue.sliding<void>(1)
    const release = Effect.gen(function* () {
      const before = process.memoryUsage.rss()
      const started = performance.now()
      const cpuBefore = process.threadCpuUsage()
      const released = yield* trim()
      const cpu = process.threadCpuUsage(cpuBefore)
      const after = process.memoryUsage.rss()
      yield* Effect.logInfo("idle worker gave free malloc memory back (malloc_trim)", {
        rssBeforeMb: megabytes(before),
        rssAfterMb: megabytes(after),
        released,
        trimMillis: Math.round(performance.now() - started),
        trimCpuMillis: Math.round((cpu.user + cpu.system) / 1000)
      })
    }).pipe(
      Effect.catchTag("MallocTrimFailed", (error) =>
        Effect.logWarning("idle worker could not give memory back", { error: error.message })
      )
    )
    /** Waits out the idle period that woke the fiber; trims when it lasted the delay. */
    const idlePeriod: Effect.Effect<void> = Effect.suspend(() => {
      if (idleSince === undefined || running > 0) return Effect.void
      const due = idleSince + delayMillis - clock.currentTimeMillisUnsafe()
      if (due > 0) return Effect.andThen(Effect.sleep(due), idlePeriod)
      // cleared before the trim (it is synchronous): the next trim needs another idle period
      idleSince = undefined
      return release
    })
    yield* Queue.take(wake).pipe(Effect.andThen(idlePeriod), Effect.forever, Effect.forkScoped)
    return {
      jobStarted: Effect.sync(() => {
        running += 1
        idleSince = undefined
      }),
      jobEnded: Effect.sync(() => {
        running = Math.max(0, running - 1)
        if (running > 0) return
        idleSince = clock.currentTimeMillisUnsafe()
        Queue.offerUnsafe(wake, undefined)
      })
    }
  })

/** The worker's idle memory release; the job runtime reports job starts and ends to it when it is provided. */
export class IdleMemory extends Context.Service<IdleMemory, IdleMemoryShape>()("mail-helper/IdleMemory") {
  /**
   * WORKER_IDLE_TRIM_MS after the last job (0: never). Where malloc_trim cannot be called (musl,
   * macOS) it says so once at info level and does nothing.
   */
  static readonly layer = Layer.effect(
    IdleMemory,
    Effect.gen(function* () {
      const delayMillis = yield* boundedInt("WORKER_IDLE_TRIM_MS", 0, 3_600_000, 10_000)
      const off: IdleMemoryShape = { jobStarted: Effect.void, jobEnded: Effect.void }
      if (delayMillis === 0) return off
      const trim = yield* Effect.option(
        loadMallocTrim.pipe(
          Effect.tapError((error) =>
            Effect.logInfo("idle worker memory release is off: malloc_trim cannot be called", { reason: error.message })
          )
        )
      )
      return Option.isSome(trim) ? yield* makeIdleMemory(trim.value, delayMillis) : off
    })
  )
}
