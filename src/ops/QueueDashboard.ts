import { createBullBoard } from "@bull-board/api"
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter"
import { HonoAdapter } from "@bull-board/hono"
import { serveStatic } from "@hono/node-server/serve-static"
import { Config, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { Hono } from "hono"
import { requireAdmin } from "../users/AdminOnly.ts"
import { Forbidden, ServiceUnavailable, Unauthorized } from "../contract/http/ApiErrors.ts"
import { RequestMetricsLive } from "../http/RequestMetrics.ts"
import { JobKinds } from "../jobs/JobKinds.ts"
import { Jobs } from "../jobs/Jobs.ts"
import { Authentication } from "../contract/users/CurrentUser.ts"

/** Where the dashboard is served; the page and its JSON API (`.../api/queues`) live below it. */
export const queueDashboardPath = "/admin/queues/ui"

/**
 * QUEUE_DASHBOARD_ENABLED (default true): serve the dashboard at all.
 * QUEUE_DASHBOARD_READ_ONLY (default true): only look; every request other than GET/HEAD is
 * refused here with 405 before Bull Board sees it, and Bull Board itself runs read-only.
 */
export const queueDashboardConfig = Config.all({
  enabled: Config.Boolean("QUEUE_DASHBOARD_ENABLED").pipe(Config.withDefault(true)),
  readOnly: Config.Boolean("QUEUE_DASHBOARD_READ_ONLY").pipe(Config.withDefault(true))
})

/**
 * Endpoint metadata for the Authentication middleware, which is written for HttpApi endpoints:
 * the dashboard is a plain router route, so it describes itself with a one-endpoint API (read
 * back through HttpApi.reflect, which hands out the general endpoint and group types).
 */
const dashboardEndpoint = (() => {
  const api = HttpApi.make("queueDashboard").add(
    HttpApiGroup.make("queueDashboard").add(HttpApiEndpoint.get("ui", queueDashboardPath))
  )
  let found: { readonly endpoint: HttpApiEndpoint.Top; readonly group: HttpApiGroup.Top } | undefined
  HttpApi.reflect(api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, group }) => {
      found = { endpoint, group }
    }
  })
  if (found === undefined) throw new Error("queue dashboard endpoint metadata missing")
  return found
})()

const statusOf = { Unauthorized: 401, Forbidden: 403, ServiceUnavailable: 503 } as const

class DashboardBadRequest extends Schema.TaggedError<DashboardBadRequest>()("DashboardBadRequest", {
  message: Schema.String
}) {}

class DashboardFailed extends Schema.TaggedError<DashboardFailed>()("DashboardFailed", { message: Schema.String }) {}

const readMethods: ReadonlySet<string> = new Set(["GET", "HEAD"])

const errorResponse = (status: number, tag: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ _tag: tag, message }, { status })

/**
 * Bull Board (its Hono adapter) for administrators, mounted on the Effect router: the request
 * is checked by the real Authentication middleware (session cookie or bearer token; cookie
 * requests that change something must come from PUBLIC_ORIGIN) and the admin role, then
 * converted to a web Request for Hono, and Hono's web Response back. No session: 401; not an
 * admin: 403. Every registered job kind's queue is listed.
 *
 * Write mode (QUEUE_DASHBOARD_READ_ONLY=false) allows pause/resume, clean and promote. A job
 * retried or added from the board bypasses the durable `jobs` record, so re-submit work
 * through the API instead (docs/operations.md).
 */
export const QueueDashboardLive = Layer.unwrap(
  Effect.gen(function* () {
    const config = yield* queueDashboardConfig
    if (!config.enabled) return Layer.empty
    return Layer.effectDiscard(
      Effect.gen(function* () {
        const router = yield* HttpRouter.HttpRouter
        const authenticate = yield* Authentication
        const kinds = yield* JobKinds
        const jobs = yield* Jobs
        const adapters = yield* Effect.forEach(kinds.all, (kind) =>
          Effect.map(
            // every registered kind has a queue, so a miss is a bug
            Effect.orDie(jobs.queue(kind.name)),
            (queue) =>
              new BullMQAdapter(queue, {
                readOnlyMode: config.readOnly,
                allowRetries: !config.readOnly,
                description: kind.description
              })
          )
        )
        const serverAdapter = new HonoAdapter(serveStatic).setBasePath(queueDashboardPath)
        createBullBoard({
          queues: adapters,
          serverAdapter,
          options: {
            uiConfig: { boardTitle: config.readOnly ? "mail-helper queues (read-only)" : "mail-helper queues" }
          }
        })
        const app = new Hono().route(queueDashboardPath, serverAdapter.registerPlugin())

        /** Runs with the CurrentUser that Authentication provides; answers every failure itself. */
        const dashboard = (request: HttpServerRequest.HttpServerRequest) =>
          Effect.gen(function* () {
            yield* requireAdmin
            if (config.readOnly && !readMethods.has(request.method)) {
              return errorResponse(
                405,
                "MethodNotAllowed",
                "the queue dashboard is read-only (QUEUE_DASHBOARD_READ_ONLY)"
              )
            }
            const webRequest = yield* HttpServerRequest.toWeb(request).pipe(
              Effect.mapError((error) => new DashboardBadRequest({ message: error.message }))
            )
            const response = yield* Effect.tryPromise({
              try: (signal) => Promise.resolve(app.fetch(new Request(webRequest, { signal }))),
              catch: (cause) => new DashboardFailed({ message: String(cause) })
            })
            return HttpServerResponse.fromWeb(response)
          }).pipe(
            Effect.catchTags({
              Forbidden: (error) => Effect.succeed(errorResponse(403, error._tag, error.message)),
              DashboardBadRequest: (error) => Effect.succeed(errorResponse(400, "BadRequest", error.message)),
              DashboardFailed: (error) =>
                Effect.logError("queue dashboard failed", error.message).pipe(
                  Effect.as(errorResponse(500, "InternalError", "the queue dashboard failed"))
                )
            })
          )

        const handler = (request: HttpServerRequest.HttpServerRequest) =>
          authenticate(dashboard(request), dashboardEndpoint).pipe(
            Effect.catch((error) =>
              error instanceof Unauthorized || error instanceof Forbidden || error instanceof ServiceUnavailable
                ? Effect.succeed(errorResponse(statusOf[error._tag], error._tag, error.message))
                : Effect.die(error)
            )
          )
        // a "/*" route also answers the bare path
        yield* router.add("*", `${queueDashboardPath}/*`, handler)
      })
    ).pipe(Layer.provide(RequestMetricsLive))
  })
)
