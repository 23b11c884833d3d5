import type { QualityResponse } from "../../contract/analysis/AnalysisApi.ts"
import type { ModelMetrics } from "./model.ts"
import type { HistoryEntry } from "./PersonalModelStore.ts"

const percent = (x: number | null) => (x === null ? "-" : `${Math.round(x * 100)} %`)

/** In words: used with which weight, or why not. */
export const explain = (metrics: ModelMetrics, minimum: number): string =>
  metrics.whyNot === "too_few_corrections"
    ? `not used: ${metrics.corrections} corrections, the minimum is ${minimum}`
    : metrics.whyNot === "not_better_than_base"
      ? `not used: the personal model measured ${percent(metrics.personalAccuracy)} on your held-out corrections, ` +
        `not better than the base analysis's ${percent(metrics.baseAccuracy)}`
      : `used with weight ${metrics.weight.toFixed(2)}: ${percent(metrics.personalAccuracy)} on your held-out ` +
        `corrections against the base analysis's ${percent(metrics.baseAccuracy)}`

/** The quality answer from the kept versions' metrics (oldest first). */
export const qualityOf = (history: ReadonlyArray<HistoryEntry>, minimum: number): QualityResponse => {
  const last = history.at(-1)
  const latest = last === undefined ? [] : history.filter((entry) => entry.version === last.version)
  const targets = [...new Set(history.map((entry) => entry.target))].sort()
  return {
    minCorrections: minimum,
    version: last?.version ?? null,
    trainedAt: last?.createdAt ?? null,
    targets: latest.map(({ target, metrics }) => ({
      target,
      corrections: metrics.corrections,
      personalAccuracy: metrics.personalAccuracy,
      baseAccuracy: metrics.baseAccuracy,
      folds: metrics.folds,
      perClass: metrics.perClass,
      used: metrics.used,
      whyNot: metrics.whyNot,
      explanation: explain(metrics, minimum),
      weight: metrics.weight
    })),
    series: targets.map((target) => ({
      target,
      points: history
        .filter((entry) => entry.target === target)
        .map((entry) => ({
          version: entry.version,
          trainedAt: entry.createdAt,
          corrections: entry.metrics.corrections,
          personalAccuracy: entry.metrics.personalAccuracy,
          baseAccuracy: entry.metrics.baseAccuracy,
          used: entry.metrics.used
        }))
    }))
  }
}
