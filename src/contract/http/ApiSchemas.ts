import { Schema } from "effect"

/** The dates a filter may name: four-digit years, well inside PostgreSQL's timestamptz range (4713 BC - 294276 AD). */
export const earliestFilterDate = new Date("0001-01-01T00:00:00.000Z")
export const latestFilterDate = new Date("9999-12-31T23:59:59.999Z")

/**
 * A date/time filter in a query or payload (ISO 8601). An invalid date, or one PostgreSQL cannot
 * compare against (JavaScript accepts years up to +-275760), is a 400 naming the field instead of a
 * database error. The OpenAPI document marks it `format: date-time`.
 */
export const DateTimeFilter = Schema.String.annotate({
  format: "date-time",
  description: "ISO 8601 date or date-time, years 0001-9999"
}).pipe(
  Schema.decodeTo(
    Schema.DateFromString.check(
      Schema.isBetweenDate(
        { minimum: earliestFilterDate, maximum: latestFilterDate },
        { message: "expected an ISO 8601 date-time between 0001-01-01 and 9999-12-31" }
      )
    )
  )
)
