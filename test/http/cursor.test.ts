import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { ValidationError } from "../../src/contract/http/ApiErrors.ts"
import { CursorDate, CursorSeq, CursorUuid, cursorCodec } from "../../src/http/Cursor.ts"

/** The one page-cursor codec: what it encodes comes back, and nothing a client makes up gets past it. */
const runCursor = cursorCodec(Schema.Struct({ createdAt: CursorDate, id: CursorUuid }))
const logCursor = cursorCodec(Schema.Struct({ seq: CursorSeq }))

const position = fc.record({
  createdAt: fc.date({
    min: new Date("0001-01-01T00:00:00.000Z"),
    max: new Date("9999-12-31T23:59:59.999Z"),
    noInvalidDate: true
  }),
  id: fc.uuid()
})
const seq = fc.bigInt({ min: 0n, max: 9_223_372_036_854_775_807n })
const base64url = (text: string) => Buffer.from(text).toString("base64url")

/** A cursor that must be refused: a 400 ValidationError naming `query.cursor` (runSync throws on success or a defect). */
const refusal = <A>(effect: Effect.Effect<A, ValidationError>) => {
  const error = Effect.runSync(Effect.flip(effect))
  assert.instanceOf(error, ValidationError)
  assert.deepStrictEqual(
    error.issues.map((issue) => issue.path),
    ["query.cursor"]
  )
}

describe("page cursors", () => {
  it("decode to the position they were made from", () => {
    fc.assert(
      fc.property(position, (p) => {
        const decoded = Effect.runSync(runCursor.decode(runCursor.encode(p)))
        assert.strictEqual(decoded.createdAt.getTime(), p.createdAt.getTime())
        assert.strictEqual(decoded.id, p.id)
      })
    )
    fc.assert(fc.property(seq, (s) => Effect.runSync(logCursor.decode(logCursor.encode({ seq: s }))).seq === s))
  })

  it("refuse whatever a client makes up, as a 400 on query.cursor", () => {
    // any text, base64url of any JSON value, and well-formed JSON with a value out of range
    fc.assert(fc.property(fc.string(), (text) => refusal(runCursor.decode(text))))
    fc.assert(fc.property(fc.jsonValue(), (value) => refusal(runCursor.decode(base64url(JSON.stringify(value))))))
    for (const hostile of [
      { createdAt: "+275760-09-13T00:00:00.000Z", id: "00000000-0000-4000-8000-000000000000" },
      { createdAt: "2025-01-01T00:00:00.000Z", id: "1' OR '1'='1" },
      { createdAt: "not a date", id: "00000000-0000-4000-8000-000000000000" }
    ]) {
      refusal(runCursor.decode(base64url(JSON.stringify(hostile))))
    }
    for (const hostile of ["-1", "9223372036854775808", "1e3", "0x10", ""]) {
      refusal(logCursor.decode(base64url(JSON.stringify({ seq: hostile }))))
    }
    // one endpoint's cursor is not another's
    refusal(logCursor.decode(runCursor.encode({ createdAt: new Date(), id: "00000000-0000-4000-8000-000000000000" })))
  })
})
