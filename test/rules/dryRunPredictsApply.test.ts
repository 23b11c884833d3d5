/**
 * The dry run (`POST /rules/:id/test`) must predict `rules.apply`: both go through evaluationTask.ts, and
 * both must cut the body at the same place. Generated bodies put the text a condition looks for at any
 * position around the cuts (16 KiB for regexes, 64 KiB for contains), in any case.
 */
import { describe, it } from "@effect/vitest"
import fc from "fast-check"
import { expect } from "vitest"
import { EvaluationLimits } from "../../src/rules/evaluate.ts"
import { evaluateOne, toWireSubject } from "../../src/rules/evaluationTask.ts"
import { compile, message, rule } from "./fixtures.ts"

const needle = "Zahlungserinnerung"

describe("the dry run predicts the apply", () => {
  it("same verdict for regex and contains body conditions at every position around the cuts", () => {
    const regexCut = EvaluationLimits.maxRegexBodyChars
    const textCut = EvaluationLimits.maxBodyChars
    const position = fc.oneof(
      fc.integer({ min: 0, max: textCut + 100 }),
      fc.integer({ min: regexCut - needle.length - 3, max: regexCut + 3 }),
      fc.integer({ min: textCut - needle.length - 3, max: textCut + 3 })
    )
    fc.assert(
      fc.property(
        position,
        fc.constantFrom("regex", "contains"),
        fc.constantFrom(needle, needle.toUpperCase(), needle.toLowerCase()),
        fc.boolean(),
        (at, op, written, seen) => {
          const compiled = compile(
            rule({
              conditions: [{ field: "body", op, value: op === "regex" ? "zahlungs(erinnerung|mahnung)" : needle }],
              actions: [{ type: "markRead" }]
            }),
            "r"
          )
          const subject = toWireSubject(
            message({
              bodyText: `${"x ".repeat(Math.ceil(at / 2)).slice(0, at)}${written} tail`,
              flags: { seen, flagged: false }
            })
          )
          const dry = evaluateOne("test", [compiled], subject)
          const apply = evaluateOne("plan", [compiled], subject)
          if (dry._tag !== "test" || apply._tag !== "plan") throw new Error("wrong outcome kind")
          const visible = at + needle.length <= (op === "regex" ? regexCut : textCut)
          expect(dry.evaluation.matched).toBe(visible)
          expect(apply.matched).toBe(visible)
          // and the same changes
          expect(apply.changes.map((c) => c.action)).toEqual(dry.changes)
        }
      ),
      { numRuns: 200 }
    )
  })
})
