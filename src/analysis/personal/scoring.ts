import { categories } from "../../contract/analysis/Analysis.ts"
import type { Decision } from "../../contract/analysis/Decisions.ts"
import { type BaseValues, type FeatureSource, featureVector } from "./features.ts"
import { blend, type ModelMetrics, predict, type StoredModel, type Target, tagTarget } from "./model.ts"

/**
 * A user's latest personal models applied to one message: the blended
 * values, which source decided each and why, and tag suggestions. Pure.
 */

export interface LoadedModel {
  readonly target: Target
  readonly version: number
  readonly model: StoredModel
  readonly metrics: ModelMetrics
}

/** The latest version of each of a user's targets (empty: no model yet). */
export type PersonalModels = ReadonlyArray<LoadedModel>

export interface ScoredValues {
  readonly urgency: number
  readonly importance: number
  readonly category: string
  readonly spam: boolean
}

export interface Scored {
  readonly values: ScoredValues
  readonly decisions: Readonly<Record<keyof ScoredValues, Decision>>
  readonly tagSuggestions: ReadonlyArray<string>
}

/** Label encodings: every target's values as strings. */
export const labelOf = {
  urgency: (base: BaseValues) => String(base.urgency),
  importance: (base: BaseValues) => String(base.importance),
  category: (base: BaseValues) => base.category,
  spam: (base: BaseValues) => String(base.spam)
} as const

const level = (label: string, fallback: number): number => {
  const n = Number(label)
  return n === 1 || n === 2 || n === 3 ? n : fallback
}

const percent = (x: number) => `${Math.round(x * 100)} %`

const notUsed = (loaded: LoadedModel): Decision => ({
  source: "base",
  reason:
    loaded.metrics.whyNot === "too_few_corrections"
      ? `personal model not used: ${loaded.metrics.corrections} corrections, fewer than the minimum`
      : `personal model not used: it measured ${percent(loaded.metrics.personalAccuracy ?? 0)} on your held-out corrections, not better than the base's ${percent(loaded.metrics.baseAccuracy ?? 0)}`,
  modelVersion: loaded.version,
  weight: 0
})

const decide = (
  loaded: LoadedModel | undefined,
  features: () => Float64Array,
  base: string
): { readonly value: string; readonly decision: Decision } => {
  if (loaded === undefined) {
    return { value: base, decision: { source: "base", reason: "no personal model yet", modelVersion: null, weight: 0 } }
  }
  if (!loaded.metrics.used) return { value: base, decision: notUsed(loaded) }
  const weight = loaded.metrics.weight
  const blended = blend(predict(loaded.model, features()), base, weight)
  const decision: Decision =
    blended.source === "personal"
      ? {
          source: "personal",
          reason: `your corrections (${loaded.metrics.corrections}, model accuracy ${percent(loaded.metrics.personalAccuracy ?? 0)} vs base ${percent(loaded.metrics.baseAccuracy ?? 0)}) outweigh the base`,
          modelVersion: loaded.version,
          weight
        }
      : {
          source: "base",
          reason: "the personal model is used but agrees with the base or is not confident enough to change it",
          modelVersion: loaded.version,
          weight
        }
  return { value: blended.value, decision }
}

export const score = (models: PersonalModels, source: FeatureSource): Scored => {
  const byTarget = new Map(models.map((m) => [m.target, m]))
  const vectors = new Map<number, Float64Array>()
  const features = (loaded: LoadedModel | undefined) => () => {
    // a model trained on another embedding model ignores this message's vector (its weights for
    // the embedding part see zeros); the hashed features still count
    const dimension =
      loaded !== undefined && loaded.model.embeddingModel === source.embeddingModel
        ? loaded.model.embeddingDimension
        : 0
    const known = vectors.get(dimension)
    if (known !== undefined) return known
    const built = featureVector(source, dimension)
    vectors.set(dimension, built)
    return built
  }
  const base = source.base
  const pick = (target: keyof ScoredValues) => {
    const loaded = byTarget.get(target)
    return decide(loaded, features(loaded), labelOf[target](base))
  }
  const urgency = pick("urgency")
  const importance = pick("importance")
  const category = pick("category")
  const spam = pick("spam")
  const tagSuggestions: Array<string> = []
  for (const loaded of models) {
    if (!loaded.target.startsWith("tag:") || !loaded.metrics.used) continue
    const tag = loaded.target.slice(4)
    if (base.tags.includes(tag) || loaded.target !== tagTarget(tag)) continue
    const blended = blend(predict(loaded.model, features(loaded)()), "no", loaded.metrics.weight)
    if (blended.value === "yes") tagSuggestions.push(tag)
  }
  return {
    values: {
      urgency: level(urgency.value, base.urgency),
      importance: level(importance.value, base.importance),
      category: (categories as ReadonlyArray<string>).includes(category.value) ? category.value : base.category,
      spam: spam.value === "true"
    },
    decisions: {
      urgency: urgency.decision,
      importance: importance.decision,
      category: category.decision,
      spam: spam.decision
    },
    tagSuggestions: tagSuggestions.sort()
  }
}
