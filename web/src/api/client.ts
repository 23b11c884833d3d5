import { Cause, Data, Effect, Exit, Option, Predicate } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { makeApi } from "../../../src/contract/makeApi.ts"

/**
 * The browser's one client of `/api/v1`, typed by the server's own contract: a field renamed on the
 * server fails the web build. Credentials: the session cookie (same-origin fetch sends it); the API's
 * CSRF rule wants an `Origin` header on unsafe requests with a cookie, which browsers add to every
 * same-origin POST/PATCH/DELETE made by fetch, so nothing is added here.
 *
 * Group by group, loaded when a call first reaches the group: each group's contract module
 * (src/contract/<feature>/<Group>Api.ts) is a lazy chunk, and its client is `makeApi(group)`, the
 * same middleware and parse options as the server's whole `Api`. The first inbox needs auth, emails
 * and accounts; evaluating every group's schemas (and building their clients) cost the first render
 * most of its main-thread time (bench/webapp.ts). The first screen's groups are in the `contract`
 * chunk the entry imports (web/vite.config.ts), so their import does not wait for a round trip.
 */
const httpClient = Effect.runSync(
  Effect.gen(function* () {
    return yield* HttpClient.HttpClient
  }).pipe(Effect.provide(FetchHttpClient.layer))
)

const baseUrl = window.location.origin

/** A group's client, built on its first call; a failed import is tried again on the next call. */
const lazyGroup = <A>(load: () => Promise<A>): (() => Promise<A>) => {
  let loading: Promise<A> | undefined
  return () => {
    if (loading === undefined) {
      loading = load()
      loading.catch(() => {
        loading = undefined
      })
    }
    return loading
  }
}

const groups = {
  health: lazyGroup(() =>
    import("../../../src/contract/health/HealthApi.ts").then(({ HealthApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(HealthApi), { group: "health", httpClient, baseUrl }))
    )
  ),
  jobs: lazyGroup(() =>
    import("../../../src/contract/jobs/JobsApi.ts").then(({ JobsApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(JobsApi), { group: "jobs", httpClient, baseUrl }))
    )
  ),
  debug: lazyGroup(() =>
    import("../../../src/contract/debug/DebugApi.ts").then(({ DebugApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(DebugApi), { group: "debug", httpClient, baseUrl }))
    )
  ),
  auth: lazyGroup(() =>
    import("../../../src/contract/users/AuthApi.ts").then(({ AuthApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(AuthApi), { group: "auth", httpClient, baseUrl }))
    )
  ),
  admin: lazyGroup(() =>
    import("../../../src/contract/admin/AdminApi.ts").then(({ AdminApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(AdminApi), { group: "admin", httpClient, baseUrl }))
    )
  ),
  emails: lazyGroup(() =>
    import("../../../src/contract/emails/EmailsApi.ts").then(({ EmailsApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(EmailsApi), { group: "emails", httpClient, baseUrl }))
    )
  ),
  search: lazyGroup(() =>
    import("../../../src/contract/search/SearchApi.ts").then(({ SearchApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(SearchApi), { group: "search", httpClient, baseUrl }))
    )
  ),
  analysis: lazyGroup(() =>
    import("../../../src/contract/analysis/AnalysisApi.ts").then(({ AnalysisApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(AnalysisApi), { group: "analysis", httpClient, baseUrl }))
    )
  ),
  queues: lazyGroup(() =>
    import("../../../src/contract/jobs/QueuesApi.ts").then(({ QueuesApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(QueuesApi), { group: "queues", httpClient, baseUrl }))
    )
  ),
  accounts: lazyGroup(() =>
    import("../../../src/contract/accounts/AccountsApi.ts").then(({ AccountsApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(AccountsApi), { group: "accounts", httpClient, baseUrl }))
    )
  ),
  oauth: lazyGroup(() =>
    import("../../../src/contract/accounts/OAuthApi.ts").then(({ OAuthApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(OAuthApi), { group: "oauth", httpClient, baseUrl }))
    )
  ),
  rules: lazyGroup(() =>
    import("../../../src/contract/rules/RulesApi.ts").then(({ RulesApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(RulesApi), { group: "rules", httpClient, baseUrl }))
    )
  ),
  import: lazyGroup(() =>
    import("../../../src/contract/import/ImportApi.ts").then(({ ImportApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(ImportApi), { group: "import", httpClient, baseUrl }))
    )
  ),
  events: lazyGroup(() =>
    import("../../../src/contract/events/EventsApi.ts").then(({ EventsApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(EventsApi), { group: "events", httpClient, baseUrl }))
    )
  ),
  webhooks: lazyGroup(() =>
    import("../../../src/contract/webhooks/WebhooksApi.ts").then(({ WebhooksApi }) =>
      Effect.runSync(HttpApiClient.group(makeApi(WebhooksApi), { group: "webhooks", httpClient, baseUrl }))
    )
  )
}

/** The API's groups by name, as `callApi` hands them to a call. */
export type ApiClient = { readonly [Name in keyof typeof groups]: Awaited<ReturnType<(typeof groups)[Name]>> }
export type ApiGroupName = keyof ApiClient
const loadGroup: { readonly [Name in ApiGroupName]: () => Promise<ApiClient[Name]> } = groups

/** A group's contract module could not be loaded (network, a build replaced while the page was open). */
export class ContractLoadError extends Data.TaggedError("ContractLoadError")<{
  readonly group: ApiGroupName
  readonly message: string
}> {}

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

let callsInFlight = 0
const settledListeners: Array<() => void> = []

/**
 * Runs `callback` once no call is in flight (at once when none is): work that may wait, such as
 * loading other pages' chunks, then does not compete with the first screen's answers.
 */
export const whenCallsSettle = (callback: () => void): void => {
  if (callsInFlight === 0) callback()
  else settledListeners.push(callback)
}

/**
 * Runs one call on the client of `group` (loaded first, see `groups`). Typed failures come back as `{ ok: false }` with the server's message; an aborted
 * call (the page went away) also resolves, as `Interrupted`, so no promise is left rejecting.
 */
export const callApi = async <Name extends ApiGroupName, A, E>(
  group: Name,
  call: (client: ApiClient[Name]) => Effect.Effect<A, E>,
  signal?: AbortSignal
): Promise<ApiResult<A>> => {
  callsInFlight += 1
  const exit = await Effect.runPromiseExit(
    Effect.tryPromise({
      try: () => loadGroup[group](),
      catch: (cause) =>
        new ContractLoadError({
          group,
          message: `cannot load the API's ${group} contract: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    }).pipe(Effect.flatMap(call)),
    signal === undefined ? undefined : { signal }
  ).finally(() => {
    callsInFlight -= 1
    if (callsInFlight === 0) for (const listener of settledListeners.splice(0)) listener()
  })
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
