import { assert } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { defineJobKind } from "../../../src/contract/jobs/JobKind.ts"
import { CurrentJob, yieldToInteractive } from "../../../src/jobs/CurrentJob.ts"
import { makeProcessor } from "../../../src/jobs/JobProcessor.ts"
import { allStarted } from "./inProcessWorker.ts"

/** How long one batch of a batch job takes. */
export const BATCH_MILLIS = 200

export const BatchPayload = Schema.Struct({ tag: Schema.String, batches: Schema.Int, lower: Schema.Boolean })

/**
 * A test job kind for the scheduling tests (bulk yield, lowering to bulk), named `name`, of class
 * interactive with mail.analyze's concurrency (2). A job works
 * through `batches` batches of BATCH_MILLIS; after the attempt's first batch it asks to yield
 * (yieldToInteractive) before each batch, and with `lower` it first lowers itself to bulk
 * (CurrentJob.continueAsBulk: as mail.sync past its first page). Its "pending rows" are batch numbers
 * kept in this process, so a job run again carries on with what is not done; `starts` and `ends`
 * record, by job tag, each attempt's start and the end.
 */
export const makeBatchJob = (name: string) => {
  const kind = defineJobKind({
    name,
    description: "Works through batches, asking to yield between them (lowering itself to bulk first when asked)",
    payload: BatchPayload,
    result: Schema.Struct({ batches: Schema.Int }),
    concurrency: 2,
    timeout: "2 minutes",
    retryOnTimeout: false,
    retry: { attempts: 3, initialDelay: "200 millis", maxDelay: "1 second", jitter: 0.2 },
    userVisible: true
  })
  const batchRuns = new Map<string, number>()
  const starts: Array<{ readonly tag: string; readonly at: number }> = []
  const ends = new Map<string, number>()
  const processor = makeProcessor(
    kind,
    Effect.succeed((payload: typeof BatchPayload.Type) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        starts.push({ tag: payload.tag, at: Date.now() })
        let doneNow = 0
        while (true) {
          // the "pending rows": the batches not done yet, so a job run again carries on
          let next = 0
          while (next < payload.batches && (batchRuns.get(`${payload.tag}:${next}`) ?? 0) > 0) next++
          if (next === payload.batches) break
          if (doneNow > 0) {
            if (payload.lower) yield* job.continueAsBulk
            yield* yieldToInteractive
          }
          yield* Effect.sleep(BATCH_MILLIS)
          batchRuns.set(`${payload.tag}:${next}`, (batchRuns.get(`${payload.tag}:${next}`) ?? 0) + 1)
          doneNow++
        }
        ends.set(payload.tag, Date.now())
        return { batches: payload.batches }
      })
    )
  )
  return {
    kind,
    processor,
    starts,
    ends,
    /** Polls until every tag has started (allStarted). */
    started: (tags: ReadonlyArray<string>) => allStarted(starts, tags),
    assertEveryBatchOnce: (tag: string, batches: number) => {
      for (let n = 0; n < batches; n++) assert.strictEqual(batchRuns.get(`${tag}:${n}`), 1, `${tag} batch ${n}`)
    }
  }
}
