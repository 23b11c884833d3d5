import { Effect, Layer, SchemaIssue, type Types } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { ValidationError } from "../contract/http/ApiErrors.ts"
import { ValidationErrors } from "../contract/http/ValidationErrors.ts"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

// Default issue messages quote the offending input; for these fields that would echo a secret back.
const sensitive = /pass(word)?|secret|token|api.?key|authorization|cookie/i

const slotName = (kind: string): string => (kind === "Body" ? "payload" : kind.toLowerCase())

type Issue = { readonly path: string; readonly message: string }

/**
 * Why a string cannot be stored: PostgreSQL text and jsonb refuse U+0000, and an unpaired UTF-16
 * surrogate is no Unicode text at all (jsonb refuses it, UTF-8 cannot encode it). Both would
 * otherwise reach the database and come back as a 503.
 */
export const unstorableText = (value: string): string | undefined =>
  value.includes("\u0000")
    ? "must not contain U+0000 (NUL)"
    : value.isWellFormed()
      ? undefined
      : "must not contain an unpaired UTF-16 surrogate"

const maxDepth = 256

/** Every unstorable string (keys and values) in a decoded JSON value, with its path under `prefix`. */
const scanJson = (value: unknown, path: string, issues: Array<Issue>, depth = 0): void => {
  if (typeof value === "string") {
    const problem = unstorableText(value)
    if (problem !== undefined) issues.push({ path, message: problem })
    return
  }
  if (typeof value !== "object" || value === null || depth > maxDepth) return
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) scanJson(item, `${path}.${index}`, issues, depth + 1)
    return
  }
  for (const [key, item] of Object.entries(value)) {
    const keyProblem = unstorableText(key)
    // the key itself is the bad text: name it by its well-formed part
    const name = keyProblem === undefined ? key : key.toWellFormed().replaceAll("\u0000", "\\u0000")
    if (keyProblem !== undefined) issues.push({ path: `${path}.${name}`, message: `key ${keyProblem}` })
    scanJson(item, `${path}.${name}`, issues, depth + 1)
  }
}

const scanRecord = (
  slot: string,
  record: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>,
  issues: Array<Issue>
): void => {
  for (const [key, value] of Object.entries(record)) scanJson({ [key]: value }, slot, issues)
}

const bodyMethods = new Set(["POST", "PUT", "PATCH", "DELETE"])

/**
 * The text of a request an endpoint would decode: route params, query and (for endpoints with a
 * payload) the JSON body. Headers need no scan: Node's parser refuses control characters in them
 * (a 400, see JsonErrors.ts) and they are Latin-1, so they cannot hold a surrogate.
 */
const requestTextIssues = (hasPayload: boolean) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const route = yield* HttpRouter.RouteContext
    const query = yield* HttpServerRequest.ParsedSearchParams
    const issues: Array<Issue> = []
    scanRecord("params", route.params, issues)
    scanRecord("query", query, issues)
    const contentType = (request.headers["content-type"] ?? "application/json").split(";")[0]?.trim().toLowerCase()
    if (hasPayload && bodyMethods.has(request.method) && contentType === "application/json") {
      // The body is read once and cached; the payload decoder reuses it. Too large a body fails
      // here exactly as it would in the decoder (a 413).
      const text = yield* Effect.orDie(request.text)
      // A raw NUL is no valid JSON and the body was decoded as UTF-8 (no lone surrogates), so only
      // a \u escape can smuggle either in.
      if (text.includes("\\u")) {
        const parsed = parseJson(text)
        if (parsed.ok) scanJson(parsed.value, "payload", issues)
      }
    }
    return issues
  })

const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    // malformed JSON is the payload decoder's to report
    return { ok: false }
  }
}

const fail = (slot: string, issues: ReadonlyArray<Issue>) =>
  Effect.fail(
    new ValidationError({
      message: `invalid request ${slot}: ${issues.map((issue) => issue.path).join(", ") || slot}`,
      issues
    })
  )

const renderSchemaError = (error: Types.unhandled): Effect.Effect<never, ValidationError | Types.unhandled> => {
  if (!HttpApiError.HttpApiSchemaError.is(error)) return Effect.fail(error)
  const slot = slotName(error.kind)
  const issues = formatter(error.cause.issue).issues.map((issue) => {
    const segments = (issue.path ?? []).map((segment) =>
      typeof segment === "object" && segment !== null && "key" in segment ? String(segment.key) : String(segment)
    )
    const path = [slot, ...segments].join(".")
    return { path, message: sensitive.test(path) ? "invalid value" : issue.message }
  })
  return fail(slot, issues)
}

export const ValidationErrorsLive = Layer.succeed(ValidationErrors, (httpEffect, { endpoint }) =>
  Effect.gen(function* () {
    const unstorable = yield* requestTextIssues(endpoint.payload.size > 0)
    if (unstorable.length > 0) {
      const slots = [...new Set(unstorable.map((issue) => issue.path.split(".")[0] ?? "request"))]
      return yield* fail(slots.join(", "), unstorable)
    }
    return yield* Effect.catch(httpEffect, renderSchemaError)
  })
)
