import incrBinaryClassification from "@stdlib/ml-incr-binary-classification"
import ndarray from "@stdlib/ndarray-ctor"
import { Schema } from "effect"
import { seededRandom } from "../../platform/seededRandom.ts"

/**
 * One personal model per user and target: one-vs-rest logistic classifiers
 * (one per class the user's examples carry), trained by
 * `@stdlib/ml-incr-binary-classification` (SGD, log loss, L2), measured by
 * k-fold cross-validation on the user's corrections against the base
 * analysis on the same held-out corrections, and blended with the base in
 * proportion to the evidence. Pure: no I/O.
 *
 * Scoring from stored weights is a dot product and a sigmoid (the library's
 * accumulator cannot be rebuilt from its coefficients, and keeping weights as
 * plain JSON is what lets them live in PostgreSQL).
 */

/** A target: urgency, importance, category, spam, or `tag:<name>` for one hand-applied tag. */
export type Target = string
export const baseTargets = ["urgency", "importance", "category", "spam"] as const
export const tagTarget = (tag: string): Target => `tag:${tag}`

export interface Example {
  readonly features: Float64Array
  /** What the user wants (a correction) or accepted (implicit: the base of uncorrected mail). */
  readonly label: string
  /** What the base analysis said. */
  readonly base: string
  /** A correction (measured on) or an implicit example (trained on only). */
  readonly correction: boolean
}

export const StoredModel = Schema.Struct({
  classes: Schema.Array(Schema.String),
  /** Per class: one weight per feature, then the intercept. */
  weights: Schema.Array(Schema.Array(Schema.Number)),
  embeddingDimension: Schema.Int,
  embeddingModel: Schema.NullOr(Schema.String)
})
export type StoredModel = typeof StoredModel.Type

export const WhyNot = Schema.Literals(["too_few_corrections", "not_better_than_base"])
export type WhyNot = typeof WhyNot.Type

export const ClassQuality = Schema.Struct({
  label: Schema.String,
  support: Schema.Int,
  personalPrecision: Schema.NullOr(Schema.Number),
  personalRecall: Schema.NullOr(Schema.Number),
  basePrecision: Schema.NullOr(Schema.Number),
  baseRecall: Schema.NullOr(Schema.Number)
})
export type ClassQuality = typeof ClassQuality.Type

export const ModelMetrics = Schema.Struct({
  /** Corrections of this target the model was trained and measured on. */
  corrections: Schema.Int,
  /** Implicit examples (uncorrected mail, its base taken as accepted) it was also trained on. */
  implicit: Schema.Int,
  folds: Schema.Int,
  /** Cross-validated accuracy on held-out corrections; null with fewer than 2 corrections. */
  personalAccuracy: Schema.NullOr(Schema.Number),
  baseAccuracy: Schema.NullOr(Schema.Number),
  perClass: Schema.Array(ClassQuality),
  used: Schema.Boolean,
  /** Why the model is not used; null when it is. */
  whyNot: Schema.NullOr(WhyNot),
  /** Weight of the personal prediction in the blend: n / (n + minimum) x accuracy; 0 when not used. */
  weight: Schema.Number,
  trainingMs: Schema.Number
})
export type ModelMetrics = typeof ModelMetrics.Type

export interface TrainingOptions {
  readonly epochs?: number
  readonly seed?: number
  readonly lambda?: number
}

const shuffled = <A>(items: ReadonlyArray<A>, next: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1))
    const a = out[i]
    const b = out[j]
    if (a !== undefined && b !== undefined) {
      out[i] = b
      out[j] = a
    }
  }
  return out
}

/** Passes over the examples: small sets get more, so a few dozen corrections still converge. */
export const epochsFor = (rows: number): number => Math.max(5, Math.min(40, Math.ceil(4_000 / Math.max(1, rows))))

const asVector = (features: Float64Array) => new ndarray("float64", features, [features.length], [1], 0, "row-major")

/** One-vs-rest classifiers over the classes the examples carry. */
export const train = (
  examples: ReadonlyArray<Example>,
  embeddingDimension: number,
  embeddingModel: string | null,
  options: TrainingOptions = {}
): StoredModel => {
  const first = examples[0]
  const length = first?.features.length ?? 0
  const classes = [...new Set(examples.map((e) => e.label))].sort()
  if (first === undefined || length === 0) return { classes, weights: [], embeddingDimension, embeddingModel }
  const epochs = options.epochs ?? epochsFor(examples.length)
  const next = seededRandom(options.seed ?? 1)
  const order: Array<Array<number>> = []
  const indexes = examples.map((_, i) => i)
  for (let epoch = 0; epoch < epochs; epoch++) order.push(shuffled(indexes, next))
  const vectors = examples.map((e) => asVector(e.features))
  const weights = classes.map((label) => {
    const accumulator = incrBinaryClassification(length, {
      loss: "log",
      lambda: options.lambda ?? 1e-4,
      intercept: true
    })
    for (const pass of order) {
      for (const i of pass) {
        const vector = vectors[i]
        const example = examples[i]
        if (vector !== undefined && example !== undefined) accumulator(vector, example.label === label ? 1 : -1)
      }
    }
    return Array.from(accumulator().data as ArrayLike<number>)
  })
  return { classes, weights, embeddingDimension, embeddingModel }
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

/** Probability per class (the one-vs-rest sigmoids, normalised to sum 1); empty for an empty model. */
export const predict = (model: StoredModel, features: Float64Array): Map<string, number> => {
  const raw = model.classes.map((label, c) => {
    const w = model.weights[c] ?? []
    let z = w[w.length - 1] ?? 0
    const n = Math.min(features.length, w.length - 1)
    for (let i = 0; i < n; i++) z += (w[i] ?? 0) * (features[i] ?? 0)
    return [label, sigmoid(z)] as const
  })
  const sum = raw.reduce((s, [, p]) => s + p, 0)
  return new Map(raw.map(([label, p]) => [label, sum > 0 ? p / sum : 0]))
}

export const argmax = (probabilities: ReadonlyMap<string, number>, fallback: string): string => {
  let best = fallback
  let bestP = -1
  for (const [label, p] of probabilities) {
    if (p > bestP) {
      best = label
      bestP = p
    }
  }
  return best
}

/** n / (n + minimum) x accuracy: more corrections and a better measured model weigh more. */
export const blendWeight = (corrections: number, minimum: number, accuracy: number): number =>
  corrections <= 0 ? 0 : (corrections / (corrections + minimum)) * Math.max(0, Math.min(1, accuracy))

export interface Blended {
  readonly value: string
  readonly source: "base" | "personal"
  /** The winning value's blended score, and the base value's. */
  readonly score: number
  readonly baseScore: number
}

/**
 * score(c) = w x p_personal(c) + (1 - w) x [c = base]; the highest score wins, the base on a tie.
 * The personal model decides only where it is confident enough to outweigh the base.
 */
export const blend = (probabilities: ReadonlyMap<string, number>, base: string, weight: number): Blended => {
  const scoreOf = (label: string) => weight * (probabilities.get(label) ?? 0) + (label === base ? 1 - weight : 0)
  const baseScore = scoreOf(base)
  let value = base
  let score = baseScore
  for (const label of probabilities.keys()) {
    const s = scoreOf(label)
    if (s > score) {
      value = label
      score = s
    }
  }
  return { value, source: value === base ? "base" : "personal", score, baseScore }
}

const ratio = (numerator: number, denominator: number): number | null =>
  denominator === 0 ? null : numerator / denominator

/**
 * Trains the model of one target and measures it: k-fold cross-validation
 * (k = min(5, corrections)) over the corrections, implicit examples in every
 * training fold; the base is measured on the same held-out corrections. Used
 * only with at least `minimum` corrections and an accuracy strictly above the base's.
 */
export const trainAndMeasure = (
  examples: ReadonlyArray<Example>,
  embeddingDimension: number,
  embeddingModel: string | null,
  minimum: number,
  options: TrainingOptions = {}
): { readonly model: StoredModel; readonly metrics: ModelMetrics } => {
  const started = performance.now()
  const corrections = examples.filter((e) => e.correction)
  const implicit = examples.filter((e) => !e.correction)
  const n = corrections.length
  const folds = Math.min(5, n)
  let personalRight = 0
  let baseRight = 0
  const labels = [...new Set(corrections.flatMap((e) => [e.label, e.base]))].sort()
  const counts = new Map(labels.map((l) => [l, { support: 0, pTrue: 0, pPred: 0, bTrue: 0, bPred: 0 }]))
  if (folds >= 2) {
    const order = shuffled(
      corrections.map((_, i) => i),
      seededRandom((options.seed ?? 1) + 7)
    )
    for (let fold = 0; fold < folds; fold++) {
      const heldOut = order.filter((_, i) => i % folds === fold)
      const held = new Set(heldOut)
      const training = [...corrections.filter((_, i) => !held.has(i)), ...implicit]
      const model = train(training, embeddingDimension, embeddingModel, options)
      for (const i of heldOut) {
        const example = corrections[i]
        if (example === undefined) continue
        const predicted = argmax(predict(model, example.features), example.base)
        if (predicted === example.label) personalRight++
        if (example.base === example.label) baseRight++
        const truth = counts.get(example.label)
        const byPersonal = counts.get(predicted)
        const byBase = counts.get(example.base)
        if (truth !== undefined) truth.support++
        if (byPersonal !== undefined) {
          byPersonal.pPred++
          if (predicted === example.label) byPersonal.pTrue++
        }
        if (byBase !== undefined) {
          byBase.bPred++
          if (example.base === example.label) byBase.bTrue++
        }
      }
    }
  }
  const model = train(examples, embeddingDimension, embeddingModel, options)
  const personalAccuracy = folds >= 2 ? personalRight / n : null
  const baseAccuracy = folds >= 2 ? baseRight / n : null
  const whyNot: WhyNot | null =
    n < minimum
      ? "too_few_corrections"
      : personalAccuracy === null || baseAccuracy === null || personalAccuracy <= baseAccuracy
        ? "not_better_than_base"
        : null
  const used = whyNot === null
  return {
    model,
    metrics: {
      corrections: n,
      implicit: implicit.length,
      folds: folds >= 2 ? folds : 0,
      personalAccuracy,
      baseAccuracy,
      perClass: [...counts].map(([label, c]) => ({
        label,
        support: c.support,
        personalPrecision: ratio(c.pTrue, c.pPred),
        personalRecall: ratio(c.pTrue, c.support),
        basePrecision: ratio(c.bTrue, c.bPred),
        baseRecall: ratio(c.bTrue, c.support)
      })),
      used,
      whyNot,
      weight: used && personalAccuracy !== null ? blendWeight(n, minimum, personalAccuracy) : 0,
      trainingMs: performance.now() - started
    }
  }
}
