import { assert, describe, it } from "@effect/vitest"
import {
  bucketOf,
  type FeatureSource,
  featureNames,
  featureVector,
  HASH_BUCKETS,
  subjectWords
} from "../../src/analysis/personal/features.ts"
import { blend, blendWeight, type Example, predict, trainAndMeasure } from "../../src/analysis/personal/model.ts"
import { type LoadedModel, score } from "../../src/analysis/personal/scoring.ts"
import { plan, tagTargetsOf } from "../../src/analysis/personal/training.ts"
import type { TrainingRow } from "../../src/analysis/personal/PersonalModelStore.ts"

const source = (over: Partial<FeatureSource> = {}): FeatureSource => ({
  fromAddress: "News@Shop.Example",
  subject: "Re: Your weekly DEALS, 50% off!",
  headers: { listUnsubscribe: "<https://shop.example/u>", precedence: "bulk" },
  base: { urgency: 1, importance: 1, category: "newsletter", spam: false, tags: ["deals"] },
  embedding: null,
  embeddingModel: null,
  ...over
})

describe("features", () => {
  it("names the sender, domain, header signals, subject words and the base values", () => {
    const names = featureNames(source())
    for (const expected of [
      "from:news@shop.example",
      "domain:shop.example",
      "hdr:list-unsubscribe",
      "precedence:bulk",
      "w:your",
      "w:weekly",
      "w:deals",
      "base-urgency:1",
      "base-importance:1",
      "base-category:newsletter",
      "base-spam:false",
      "base-tag:deals"
    ]) {
      assert.include(names, expected)
    }
    // short words and the "re" prefix are left out
    assert.notInclude(names, "w:re")
    assert.deepStrictEqual(subjectWords("Fwd: Über 100 Äpfel"), ["fwd", "über", "100", "äpfel"])
  })

  it("hashes into signed buckets, then the embedding when its length fits", () => {
    const plain = featureVector(source(), 4)
    assert.strictEqual(plain.length, HASH_BUCKETS + 4)
    const { index, sign } = bucketOf("from:news@shop.example")
    assert.isTrue(index >= 0 && index < HASH_BUCKETS)
    assert.include([1, -1], sign)
    assert.notStrictEqual(plain[index], 0)
    assert.deepStrictEqual(Array.from(plain.slice(HASH_BUCKETS)), [0, 0, 0, 0])
    const embedded = featureVector(source({ embedding: [0.5, -0.5, 0.5, -0.5], embeddingModel: "m" }), 4)
    assert.deepStrictEqual(Array.from(embedded.slice(HASH_BUCKETS)), [0.5, -0.5, 0.5, -0.5])
    // a vector of another length is not used
    const mismatched = featureVector(source({ embedding: [1, 0], embeddingModel: "m" }), 4)
    assert.deepStrictEqual(Array.from(mismatched.slice(HASH_BUCKETS)), [0, 0, 0, 0])
  })
})

describe("blending", () => {
  it("weighs the personal model by n / (n + minimum) x accuracy", () => {
    assert.strictEqual(blendWeight(10, 10, 1), 0.5)
    assert.closeTo(blendWeight(30, 10, 0.8), 0.6, 1e-12)
    assert.strictEqual(blendWeight(0, 10, 1), 0)
    assert.strictEqual(blendWeight(10, 10, 1.5), 0.5, "accuracy is capped at 1")
  })

  it("lets the personal model decide only when its weighted confidence beats the base", () => {
    const probabilities = new Map([
      ["3", 0.9],
      ["1", 0.1]
    ])
    // w = 0.5: 0.45 for 3 against 0.5 + 0.05 for the base 1
    assert.deepStrictEqual(blend(probabilities, "1", 0.5).value, "1")
    assert.strictEqual(blend(probabilities, "1", 0.5).source, "base")
    // w = 0.8: 0.72 against 0.2 + 0.08
    const chosen = blend(probabilities, "1", 0.8)
    assert.strictEqual(chosen.value, "3")
    assert.strictEqual(chosen.source, "personal")
    assert.closeTo(chosen.score, 0.72, 1e-12)
    // weight 0: always the base
    assert.strictEqual(blend(probabilities, "1", 0).value, "1")
  })
})

const example = (from: string, label: string, base: string, correction: boolean): Example => ({
  features: featureVector(source({ fromAddress: from, subject: `mail from ${from}` }), 0),
  label,
  base,
  correction
})

describe("training and quality", () => {
  const corrections = Array.from({ length: 12 }, () => example("deals@shopbay.example", "3", "1", true))
  const implicit = ["a@x.example", "b@y.example", "c@z.example", "d@w.example"].flatMap((from) => [
    example(from, "1", "1", false),
    example(from, "1", "1", false),
    example(from, "1", "1", false)
  ])

  it("learns a consistent correction, measures it against the base and uses it", () => {
    const { model, metrics } = trainAndMeasure([...corrections, ...implicit], 0, null, 5)
    assert.strictEqual(metrics.corrections, 12)
    assert.strictEqual(metrics.implicit, 12)
    assert.strictEqual(metrics.folds, 5)
    assert.strictEqual(metrics.baseAccuracy, 0)
    assert.strictEqual(metrics.personalAccuracy, 1)
    assert.isTrue(metrics.used)
    assert.isNull(metrics.whyNot)
    assert.closeTo(metrics.weight, 12 / 17, 1e-12)
    const three = metrics.perClass.find((c) => c.label === "3")
    assert.strictEqual(three?.personalRecall, 1)
    assert.strictEqual(three?.baseRecall, 0)
    const p = predict(model, example("deals@shopbay.example", "?", "1", false).features)
    assert.isAbove(p.get("3") ?? 0, 0.8)
    const other = predict(model, example("b@y.example", "?", "1", false).features)
    assert.isAbove(other.get("1") ?? 0, 0.5)
  })

  it("does not use a model below the minimum or one not better than the base", () => {
    assert.strictEqual(
      trainAndMeasure([...corrections.slice(0, 4), ...implicit], 0, null, 5).metrics.whyNot,
      "too_few_corrections"
    )
    const confirming = Array.from({ length: 8 }, () => example("deals@shopbay.example", "1", "1", true))
    const { metrics } = trainAndMeasure([...confirming, ...implicit], 0, null, 5)
    assert.strictEqual(metrics.baseAccuracy, 1)
    assert.strictEqual(metrics.whyNot, "not_better_than_base")
    assert.strictEqual(metrics.weight, 0)
  })

  it("scores with the used models only, and says which source decided", () => {
    const { model, metrics } = trainAndMeasure([...corrections, ...implicit], 0, null, 5)
    const loaded: LoadedModel = { target: "importance", version: 3, model, metrics }
    const deal = source({ fromAddress: "deals@shopbay.example", subject: "mail from deals@shopbay.example" })
    const scored = score([loaded], deal)
    assert.strictEqual(scored.values.importance, 3)
    assert.strictEqual(scored.decisions.importance.source, "personal")
    assert.strictEqual(scored.decisions.importance.modelVersion, 3)
    assert.strictEqual(scored.decisions.urgency.source, "base")
    assert.strictEqual(scored.decisions.urgency.reason, "no personal model yet")
    const unused = score(
      [{ ...loaded, metrics: { ...metrics, used: false, whyNot: "too_few_corrections", weight: 0 } }],
      deal
    )
    assert.strictEqual(unused.values.importance, 1)
    assert.include(unused.decisions.importance.reason, "fewer than the minimum")
  })

  it("turns hand-applied and removed tags into targets with positives and negatives", () => {
    const row = (tags: ReadonlyArray<string> | null, baseTags: ReadonlyArray<string>): TrainingRow => ({
      emailId: crypto.randomUUID(),
      source: source({ base: { urgency: 1, importance: 1, category: "newsletter", spam: false, tags: baseTags } }),
      correction: tags === null ? null : { urgency: null, importance: null, category: null, spam: null, tags },
      embeddingModel: null
    })
    const rows = [row(["vendor"], ["promo"]), row(["vendor", "promo"], ["promo"]), row(null, ["promo"])]
    // vendor: applied twice; promo: removed once
    assert.deepStrictEqual(tagTargetsOf(rows), ["vendor", "promo"])
    const plans = plan(rows)
    const promo = plans.find((p) => p.target === "tag:promo")
    assert.deepStrictEqual(
      promo?.examples.map((e) => [e.label, e.base, e.correction]),
      [
        ["no", "yes", true],
        ["yes", "yes", true],
        ["yes", "yes", false]
      ]
    )
    const importance = plans.find((p) => p.target === "importance")
    // no importance was corrected: every row is an implicit example of its base
    assert.isTrue(importance?.examples.every((e) => !e.correction && e.label === "1"))
  })
})
