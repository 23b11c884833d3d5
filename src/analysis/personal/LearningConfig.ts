import { Config, Context, Effect, Layer } from "effect"
import { boundedInt } from "../../platform/Config.ts"

/**
 * Learning from corrections (personal models).
 *
 * | variable                  | default | meaning                                                                     |
 * |---------------------------|---------|-----------------------------------------------------------------------------|
 * | LEARNING_MIN_CORRECTIONS  | 10      | corrections of a target before its personal model may be used (1-1000)      |
 * | LEARNING_DEBOUNCE_MS      | 10000   | `model.train` waits until the corrections are unchanged this long (0-600000)|
 * | LEARNING_MAX_CORRECTIONS  | 5000    | newest corrections a training reads (100-100000)                           |
 */
export interface LearningConfigShape {
  readonly minCorrections: number
  readonly debounceMs: number
  readonly maxCorrections: number
}

export const defaultLearningConfig: LearningConfigShape = {
  minCorrections: 10,
  debounceMs: 10_000,
  maxCorrections: 5_000
}

export const learningConfig = Config.all({
  minCorrections: boundedInt("LEARNING_MIN_CORRECTIONS", 1, 1_000, defaultLearningConfig.minCorrections),
  debounceMs: boundedInt("LEARNING_DEBOUNCE_MS", 0, 600_000, defaultLearningConfig.debounceMs),
  maxCorrections: boundedInt("LEARNING_MAX_CORRECTIONS", 100, 100_000, defaultLearningConfig.maxCorrections)
})

export class LearningConfig extends Context.Service<LearningConfig, LearningConfigShape>()(
  "mail-helper/LearningConfig"
) {
  static readonly layer = Layer.effect(
    LearningConfig,
    Effect.gen(function* () {
      return yield* learningConfig
    })
  )
}
