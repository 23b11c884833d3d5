import { Effect, Schema } from "effect"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { earliestFilterDate, latestFilterDate } from "../contract/http/ApiSchemas.ts"

/**
 * The one codec of the API's page cursors (`nextCursor` in, `cursor` back). The contract types a
 * cursor as an opaque string; what it holds is the handler's business: base64url of the JSON of a
 * position schema. Anything that does not decode to that position (forged, truncated, from another
 * endpoint) is a 400 naming `query.cursor`, never a query the database refuses (a 503).
 */
export const invalidCursor = (reason = "not a cursor returned by this endpoint"): ValidationError =>
  new ValidationError({ message: "invalid cursor", issues: [{ path: "query.cursor", message: reason }] })

/** A cursor's date: a date PostgreSQL can compare (the same range as a date filter). */
export const CursorDate = Schema.DateFromString.check(
  Schema.isBetweenDate({ minimum: earliestFilterDate, maximum: latestFilterDate })
)

export const CursorUuid = Schema.String.check(Schema.isUUID())

/** A PostgreSQL bigint (a sequence number) as a decimal string: JSON has no 64-bit integers. */
export const CursorSeq = Schema.BigIntFromString.check(
  Schema.isBetweenBigInt({ minimum: 0n, maximum: 9_223_372_036_854_775_807n })
)

export interface CursorCodec<Position> {
  readonly encode: (position: Position) => string
  readonly decode: (cursor: string) => Effect.Effect<Position, ValidationError>
}

export const cursorCodec = <Position, Encoded>(position: Schema.Codec<Position, Encoded>): CursorCodec<Position> => {
  const json = Schema.fromJsonString(position)
  const encodeJson = Schema.encodeSync(json)
  const decodeJson = Schema.decodeUnknownEffect(json)
  return {
    encode: (value) => Buffer.from(encodeJson(value)).toString("base64url"),
    decode: (cursor) =>
      decodeJson(Buffer.from(cursor, "base64url").toString("utf8")).pipe(Effect.mapError(() => invalidCursor()))
  }
}
