import { featureVector } from "./features.ts"
import { baseTargets, type Example, type Target, tagTarget } from "./model.ts"
import type { CorrectionValues, TrainingRow } from "./PersonalModelStore.ts"
import { labelOf } from "./scoring.ts"

/**
 * From a user's training rows to one set of examples per target. A
 * correction of a target is a measured example; a message the user did not
 * correct (or corrected in another field) is an implicit one, its base value
 * taken as accepted. Tags: every tag a user applied by hand (in a correction,
 * not in the base) or removed (in the base, not in the correction) is a
 * target; a correction's tag list is the truth for each (present: positive,
 * absent: negative).
 */

/** At most this many tag models per user (the most corrected tags). */
export const TAG_TARGETS_MAX = 20

export interface TargetPlan {
  readonly target: Target
  readonly examples: ReadonlyArray<Example>
  readonly embeddingDimension: number
  readonly embeddingModel: string | null
}

const correctedLabel = (target: (typeof baseTargets)[number], correction: CorrectionValues): string | null => {
  const value = correction[target]
  return value === null ? null : String(value)
}

/** The embedding model most rows carry, and its dimension (0 when none has one). */
const embeddingOf = (rows: ReadonlyArray<TrainingRow>) => {
  const counts = new Map<string, { n: number; dimension: number }>()
  for (const row of rows) {
    if (row.embeddingModel === null || row.source.embedding === null) continue
    const key = `${row.embeddingModel}\u0000${row.source.embedding.length}`
    const entry = counts.get(key) ?? { n: 0, dimension: row.source.embedding.length }
    entry.n++
    counts.set(key, entry)
  }
  let best: { model: string; dimension: number; n: number } | null = null
  for (const [key, entry] of counts) {
    if (best === null || entry.n > best.n) best = { model: key.split("\u0000")[0] ?? "", ...entry }
  }
  return best === null ? { model: null, dimension: 0 } : { model: best.model, dimension: best.dimension }
}

export const tagTargetsOf = (rows: ReadonlyArray<TrainingRow>): Array<string> => {
  const counts = new Map<string, number>()
  for (const row of rows) {
    const tags = row.correction?.tags
    if (tags === null || tags === undefined) continue
    const base = row.source.base.tags
    for (const tag of tags) if (!base.includes(tag)) counts.set(tag, (counts.get(tag) ?? 0) + 1)
    for (const tag of base) if (!tags.includes(tag)) counts.set(tag, (counts.get(tag) ?? 0) + 1)
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, TAG_TARGETS_MAX)
    .map(([tag]) => tag)
}

export const plan = (rows: ReadonlyArray<TrainingRow>): Array<TargetPlan> => {
  const { model: embeddingModel, dimension } = embeddingOf(rows)
  const vectors = rows.map((row) =>
    featureVector(
      row.embeddingModel === embeddingModel ? row.source : { ...row.source, embedding: null, embeddingModel: null },
      dimension
    )
  )
  const plans: Array<TargetPlan> = baseTargets.map((target) => ({
    target,
    embeddingDimension: dimension,
    embeddingModel,
    examples: rows.flatMap((row, i): Array<Example> => {
      const features = vectors[i]
      if (features === undefined) return []
      const base = labelOf[target](row.source.base)
      const corrected = row.correction === null ? null : correctedLabel(target, row.correction)
      return [{ features, base, label: corrected ?? base, correction: corrected !== null }]
    })
  }))
  for (const tag of tagTargetsOf(rows)) {
    plans.push({
      target: tagTarget(tag),
      embeddingDimension: dimension,
      embeddingModel,
      examples: rows.flatMap((row, i): Array<Example> => {
        const features = vectors[i]
        if (features === undefined) return []
        const base = row.source.base.tags.includes(tag) ? "yes" : "no"
        const tags = row.correction?.tags ?? null
        // a correction that set no tags says nothing about them: an implicit example
        const label = tags === null ? base : tags.includes(tag) ? "yes" : "no"
        return [{ features, base, label, correction: tags !== null }]
      })
    })
  }
  return plans
}
