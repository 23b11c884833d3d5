import { Effect } from "effect"
import { AnalysisRescoreJob, type AnalysisRescorePayload } from "../contract/jobs/AnalysisRescoreJob.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { PersonalModelStore, type ScoringRow } from "./personal/PersonalModelStore.ts"
import { score } from "./personal/scoring.ts"

const BATCH = 200

/**
 * `analysis.rescore`: blends the owner's analysed mail of a date window again, from the stored base
 * values and the latest personal models, in id order (a retry redoes only the same blend, so it is
 * idempotent). Corrections live apart (email_overrides) and still win.
 */
export const AnalysisRescoreProcessor = makeProcessor(
  AnalysisRescoreJob,
  Effect.gen(function* () {
    const store = yield* PersonalModelStore
    return (payload: AnalysisRescorePayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        const window = { since: payload.since, until: payload.until ?? null }
        const models = yield* store.latest(owner)
        const version = models[0]?.version ?? null
        const total = yield* store.countRescore(owner, window)
        let afterId: string | null = null
        let rescored = 0
        let changed = 0
        yield* job.progress({ phase: "rescoring", done: 0, total })
        while (true) {
          const batch: ReadonlyArray<ScoringRow> = yield* store.rescoreBatch(owner, window, afterId, BATCH)
          const last = batch.at(-1)
          if (last === undefined) break
          afterId = last.emailId
          const saved = yield* store.saveScored(
            owner,
            batch.map((row) => ({ emailId: row.emailId, scored: score(models, row.source) }))
          )
          rescored += saved.updated
          changed += saved.changed
          yield* job.progress({
            phase: "rescoring",
            done: rescored,
            total: Math.max(total, rescored),
            message: `${changed} changed`
          })
          yield* Effect.yieldNow
        }
        return { rescored, changed, version }
      }).pipe(Effect.catchTag("SqlError", databaseTrouble), Effect.withSpan("analysis.rescore"))
  })
)
