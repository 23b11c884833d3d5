import { Cause, Effect, Exit, Option, Predicate } from "effect"
import { FetchHttpClient, HttpClient } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Api } from "./contract.ts"

/**
 * The browser's one client of `/api/v1`, typed by the server's own `HttpApi`: a field renamed on the
 * server fails the web build. Credentials: the session cookie (same-origin fetch sends it); the API's
 * CSRF rule wants an `Origin` header on unsafe requests with a cookie, which browsers add to every
 * same-origin POST/PATCH/DELETE made by fetch, so nothing is added here.
 *
 * Built group by group, when a call first reaches the group: building the whole API's client
 * compiles every endpoint's schemas (~150 endpoints), which cost the first inbox render more than a
 * third of its main-thread time before its first request could start (bench/webapp.ts); the inbox
 * needs four groups.
 */
const httpClient = Effect.runSync(
  Effect.gen(function* () {
    return yield* HttpClient.HttpClient
  }).pipe(Effect.provide(FetchHttpClient.layer))
)

/** A value built on its first use. */
const once = <A>(build: () => A): (() => A) => {
  let built: { readonly value: A } | undefined
  return () => {
    if (built === undefined) built = { value: build() }
    return built.value
  }
}

const baseUrl = window.location.origin
const groups = {
  health: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "health", httpClient, baseUrl }))),
  jobs: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "jobs", httpClient, baseUrl }))),
  debug: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "debug", httpClient, baseUrl }))),
  auth: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "auth", httpClient, baseUrl }))),
  admin: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "admin", httpClient, baseUrl }))),
  emails: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "emails", httpClient, baseUrl }))),
  search: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "search", httpClient, baseUrl }))),
  analysis: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "analysis", httpClient, baseUrl }))),
  queues: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "queues", httpClient, baseUrl }))),
  accounts: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "accounts", httpClient, baseUrl }))),
  oauth: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "oauth", httpClient, baseUrl }))),
  rules: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "rules", httpClient, baseUrl }))),
  import: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "import", httpClient, baseUrl }))),
  events: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "events", httpClient, baseUrl }))),
  webhooks: once(() => Effect.runSync(HttpApiClient.group(Api, { group: "webhooks", httpClient, baseUrl })))
}

/** The whole API's client; each group is built when first read. */
const client = {
  get health() {
    return groups.health()
  },
  get jobs() {
    return groups.jobs()
  },
  get debug() {
    return groups.debug()
  },
  get auth() {
    return groups.auth()
  },
  get admin() {
    return groups.admin()
  },
  get emails() {
    return groups.emails()
  },
  get search() {
    return groups.search()
  },
  get analysis() {
    return groups.analysis()
  },
  get queues() {
    return groups.queues()
  },
  get accounts() {
    return groups.accounts()
  },
  get oauth() {
    return groups.oauth()
  },
  get rules() {
    return groups.rules()
  },
  get import() {
    return groups.import()
  },
  get events() {
    return groups.events()
  },
  get webhooks() {
    return groups.webhooks()
  }
}

export type ApiClient = typeof client

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
 * Runs one call. Typed failures come back as `{ ok: false }` with the server's message; an aborted
 * call (the page went away) also resolves, as `Interrupted`, so no promise is left rejecting.
 */
export const callApi = async <A, E>(
  call: (client: ApiClient) => Effect.Effect<A, E>,
  signal?: AbortSignal
): Promise<ApiResult<A>> => {
  callsInFlight += 1
  const exit = await Effect.runPromiseExit(
    Effect.suspend(() => call(client)),
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
