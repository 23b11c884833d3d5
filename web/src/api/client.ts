import { Cause, Effect, Exit, Option, Predicate } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "./contract.ts"

/**
 * The browser's one client of `/api/v1`, typed by the server's own `HttpApi`: a field renamed on the
 * server fails the web build. Credentials: the session cookie (same-origin fetch sends it); the API's
 * CSRF rule wants an `Origin` header on unsafe requests with a cookie, which browsers add to every
 * same-origin POST/PATCH/DELETE made by fetch, so nothing is added here.
 */
const makeClient = HttpApiClient.make(Api, { baseUrl: window.location.origin })

export type ApiClient = Effect.Success<typeof makeClient>

const clientPromise: Promise<ApiClient> = Effect.runPromise(makeClient.pipe(Effect.provide(FetchHttpClient.layer)))

/** What a failed call shows: the server's own message when it sent one. */
export interface ApiFailure {
  readonly tag: string
  readonly message: string
  /** Field by field, for a 400 ValidationError (`payload.email`: what is wrong with it). */
  readonly issues: ReadonlyArray<{ readonly path: string; readonly message: string }>
  /** A string `reason` the error carries (AccountVerificationFailed: authentication, tls, dns, ...). */
  readonly reason?: string | undefined
  /** HTTP-level meaning, for the UI's decisions (sign-in on 401). */
  readonly unauthorized: boolean
}

const tagOf = (error: unknown): string =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Error"

const messageOf = (error: unknown): string => {
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") {
    return error.message
  }
  if (Predicate.hasProperty(error, "reason") && Predicate.hasProperty(error.reason, "_tag")) {
    return `${tagOf(error)}: ${String(error.reason._tag)}`
  }
  return tagOf(error)
}

const issuesOf = (error: unknown): ApiFailure["issues"] => {
  if (!Predicate.hasProperty(error, "issues") || !Array.isArray(error.issues)) return []
  return error.issues.flatMap((issue: unknown) =>
    Predicate.hasProperty(issue, "path") &&
    Predicate.hasProperty(issue, "message") &&
    typeof issue.path === "string" &&
    typeof issue.message === "string"
      ? [{ path: issue.path, message: issue.message }]
      : []
  )
}

export const describeFailure = (error: unknown): ApiFailure => ({
  tag: tagOf(error),
  message: messageOf(error),
  issues: issuesOf(error),
  reason: Predicate.hasProperty(error, "reason") && typeof error.reason === "string" ? error.reason : undefined,
  unauthorized: tagOf(error) === "Unauthorized"
})

/** Listeners told when any call answers 401 (the session ended): the app goes back to sign-in. */
const unauthorizedListeners = new Set<() => void>()
export const onUnauthorized = (listener: () => void): (() => void) => {
  unauthorizedListeners.add(listener)
  return () => unauthorizedListeners.delete(listener)
}

export type ApiResult<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly failure: ApiFailure }

/**
 * Runs one call. Typed failures come back as `{ ok: false }` with the server's message; an aborted
 * call (the page went away) also resolves, as `Interrupted`, so no promise is left rejecting.
 */
export const callApi = async <A, E>(
  call: (client: ApiClient) => Effect.Effect<A, E>,
  signal?: AbortSignal
): Promise<ApiResult<A>> => {
  const client = await clientPromise
  const exit = await Effect.runPromiseExit(call(client), signal === undefined ? undefined : { signal })
  if (Exit.isSuccess(exit)) return { ok: true, value: exit.value }
  const failure = Cause.findErrorOption(exit.cause)
  const described = Option.isSome(failure)
    ? describeFailure(failure.value)
    : Cause.hasInterruptsOnly(exit.cause)
      ? { tag: "Interrupted", message: "cancelled", issues: [], unauthorized: false }
      : {
          tag: "Defect",
          message: Cause.pretty(exit.cause).split("\n")[0] ?? "unexpected error",
          issues: [],
          unauthorized: false
        }
  if (described.unauthorized) for (const listener of unauthorizedListeners) listener()
  return { ok: false, failure: described }
}
