import { HttpApi } from "effect/http-api"
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
import { ValidationErrors } from "./http/ValidationErrors.ts"

/** The whole HTTP contract (served as OpenAPI at /openapi.json, /docs); each feature contributes its group. */
export class Api extends HttpApi.make("mail-helper")
  .add(HealthApi)
  .add(JobsApi)
  .add(DebugApi)
  .add(AuthApi)
  .add(AdminApi)
  .add(EmailsApi)
  .add(SearchApi)
  .add(AnalysisApi)
  .add(QueuesApi)
  .add(AccountsApi)
  .add(OAuthApi)
  .add(RulesApi)
  .add(ImportApi)
  .add(AnalysisApi)
  .add(EventsApi)
  .add(WebhooksApi)
  .middleware(ValidationErrors)
  // report every invalid field, and refuse fields the schema does not know
  .annotate(HttpApi.ParseOptions, { errors: "all", onExcessProperty: "error" })
  .annotate(HttpApi.HeadersParseOptions, { errors: "all" }) {}
