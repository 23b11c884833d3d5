import { Effect, SchemaIssue } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { ValidationError } from "./ApiErrors.ts"

/** Renders request decoding failures as a 400 ValidationError naming every invalid field. */
export class ValidationErrors extends HttpApiMiddleware.Service<ValidationErrors>()("mail-helper/ValidationErrors", {
  error: ValidationError
}) {}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

// Default issue messages quote the offending input; for these fields that would echo a secret back.
const sensitive = /pass(word)?|secret|token|api.?key|authorization|cookie/i

const slotName = (kind: string): string => (kind === "Body" ? "payload" : kind.toLowerCase())

export const ValidationErrorsLive = HttpApiMiddleware.layerSchemaErrorTransform(ValidationErrors, (error) => {
  const slot = slotName(error.kind)
  const issues = formatter(error.cause.issue).issues.map((issue) => {
    const segments = (issue.path ?? []).map((segment) =>
      typeof segment === "object" && segment !== null && "key" in segment ? String(segment.key) : String(segment)
    )
    const path = [slot, ...segments].join(".")
    return { path, message: sensitive.test(path) ? "invalid value" : issue.message }
  })
  return Effect.fail(
    new ValidationError({
      message: `invalid request ${slot}: ${issues.map((issue) => issue.path).join(", ") || slot}`,
      issues
    })
  )
})
