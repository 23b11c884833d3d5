import { Duration, Effect } from "effect"
import { ModelTrainJob } from "../contract/jobs/ModelTrainJob.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import { CurrentJob, currentOwner } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { LearningConfig } from "./personal/LearningConfig.ts"
import { trainAndMeasure } from "./personal/model.ts"
import { PersonalModelStore, type SavedTarget } from "./personal/PersonalModelStore.ts"
import { plan } from "./personal/training.ts"

/**
 * `model.train`: waits until the owner's corrections have settled (unchanged for
 * LEARNING_DEBOUNCE_MS: a burst of corrections is one training), trains and measures every
 * target, saves them as one new version, and trains again when corrections changed meanwhile.
 * Training is CPU work: the fiber yields between targets so other jobs of the worker keep running.
 */
export const ModelTrainProcessor = makeProcessor(
  ModelTrainJob,
  Effect.gen(function* () {
    const store = yield* PersonalModelStore
    const config = yield* LearningConfig

    return () =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        let trainings = 0
        let version: number | null = null
        let corrections = 0
        let used: ReadonlyArray<string> = []
        let settled = yield* store.correctionsFingerprint(owner)
        while (true) {
          yield* job.progress({ phase: "waiting", done: 0, total: null, message: "waiting for corrections to settle" })
          while (true) {
            yield* Effect.sleep(Duration.millis(config.debounceMs))
            const now = yield* store.correctionsFingerprint(owner)
            if (now.fingerprint === settled.fingerprint) break
            settled = now
          }
          const rows = yield* store.trainingRows(owner, config.maxCorrections)
          const plans = plan(rows)
          const saved: Array<SavedTarget> = []
          for (const [i, target] of plans.entries()) {
            yield* job.progress({ phase: "training", done: i, total: plans.length, message: target.target })
            const { model, metrics } = trainAndMeasure(
              target.examples,
              target.embeddingDimension,
              target.embeddingModel,
              config.minCorrections
            )
            saved.push({ target: target.target, model, metrics })
            yield* Effect.yieldNow
          }
          version = yield* store.save(owner, saved)
          trainings++
          corrections = settled.count
          used = saved.filter((s) => s.metrics.used).map((s) => s.target)
          yield* job.progress({
            phase: "training",
            done: plans.length,
            total: plans.length,
            message: `version ${version}: ${used.length} of ${plans.length} models used`
          })
          const after = yield* store.correctionsFingerprint(owner)
          if (after.fingerprint === settled.fingerprint) break
          // corrections changed while this training ran: it is already out of date
          settled = after
        }
        return { trainings, version, corrections, used }
      }).pipe(Effect.catchTag("SqlError", databaseTrouble), Effect.withSpan("model.train"))
  })
)
