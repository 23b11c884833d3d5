import { AccountsApi } from "./accounts/AccountsApi.ts"
import { OAuthApi } from "./accounts/OAuthApi.ts"
import { AdminApi } from "./admin/AdminApi.ts"
import { AnalysisApi } from "./analysis/AnalysisApi.ts"
import { DebugApi } from "./debug/DebugApi.ts"
import { EmailsApi } from "./emails/EmailsApi.ts"
import { EventsApi } from "./events/EventsApi.ts"
import { HealthApi } from "./health/HealthApi.ts"
import { ImportApi } from "./import/ImportApi.ts"
import { JobsApi } from "./jobs/JobsApi.ts"
import { SearchApi } from "./search/SearchApi.ts"
import { QueuesApi } from "./jobs/QueuesApi.ts"
import { RulesApi } from "./rules/RulesApi.ts"
import { AuthApi } from "./users/AuthApi.ts"
import { WebhooksApi } from "./webhooks/WebhooksApi.ts"
import { makeApi } from "./makeApi.ts"

/**
 * The whole HTTP contract (served as OpenAPI at /openapi.json, /docs); each feature contributes its
 * group, and `makeApi` adds the middleware and parse options every group shares.
 */
export class Api extends makeApi(
  HealthApi,
  JobsApi,
  DebugApi,
  AuthApi,
  AdminApi,
  EmailsApi,
  SearchApi,
  AnalysisApi,
  QueuesApi,
  AccountsApi,
  OAuthApi,
  RulesApi,
  ImportApi,
  AnalysisApi,
  EventsApi,
  WebhooksApi
) {}
