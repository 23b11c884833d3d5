import { Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { AccountsHttpLive } from "../accounts/AccountsHttp.ts"
import { OAuthHttpLive } from "../accounts/OAuthHttp.ts"
import { AdminHttpLive } from "../admin/AdminHttp.ts"
import { AnalysisHttpLive } from "../analysis/AnalysisHttp.ts"
import { DebugHttpLive } from "../debug/DebugHttp.ts"
import { EmailsHttpLive } from "../emails/EmailsHttp.ts"
import { EventsHttpLive } from "../events/EventsHttp.ts"
import { HealthHttpLive } from "../health/HealthHttp.ts"
import { ImportHttpLive } from "../import/ImportHttp.ts"
import { Api } from "../contract/Api.ts"
import { JsonErrorsLive } from "../http/JsonErrors.ts"
import { DocumentedApi } from "../http/OpenApiDocs.ts"
import { RequestLimitsLive } from "../http/RequestLimits.ts"
import { RequestMetricsLive } from "../http/RequestMetrics.ts"
import { ValidationErrorsLive } from "../http/ValidationErrors.ts"
import { JobInspector } from "../jobs/JobInspector.ts"
import { JobsHttpLive } from "../jobs/JobsHttp.ts"
import { QueuesHttpLive } from "../jobs/QueuesHttp.ts"
import { QueueDashboardLive } from "../ops/QueueDashboard.ts"
import { MetricsHttpLive, ProcessMetricsLive } from "../platform/Metrics.ts"
import { RulesHttpLive } from "../rules/RulesHttp.ts"
import { AuthHttpLive } from "../users/AuthHttp.ts"
import type { Authentication } from "../contract/users/CurrentUser.ts"
import { UsersLive } from "../users/UsersLive.ts"
import { WebhooksHttpLive } from "../webhooks/WebhooksHttp.ts"
import { WebAppLive } from "../webapp/WebApp.ts"

/** The HTTP application: API groups, OpenAPI document, docs page, the web app at `/`. */
export const HttpAppLive = <E, R>(authentication: Layer.Layer<Authentication, E, R>) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(DocumentedApi, { openapiPath: "/openapi.json" }).pipe(
      Layer.provide([
        HealthHttpLive,
        JobsHttpLive,
        DebugHttpLive,
        AuthHttpLive,
        AdminHttpLive,
        QueuesHttpLive,
        AccountsHttpLive,
        OAuthHttpLive,
        RulesHttpLive,
        EmailsHttpLive,
        ImportHttpLive,
        AnalysisHttpLive,
        EventsHttpLive,
        WebhooksHttpLive
      ]),
      Layer.provide(JobInspector.layer),
      Layer.provide([ValidationErrorsLive, authentication]),
      Layer.provide(RequestMetricsLive),
      Layer.provide(UsersLive)
    ),
    HttpApiScalar.layer(DocumentedApi, { path: "/docs" }),
    QueueDashboardLive.pipe(Layer.provide(authentication), Layer.provide(UsersLive)),
    MetricsHttpLive,
    WebAppLive,
    RequestLimitsLive,
    JsonErrorsLive(Api),
    ProcessMetricsLive
  )

export const serve = HttpRouter.serve
