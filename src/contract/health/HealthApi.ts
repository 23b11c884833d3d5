import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"

export const DependencyStatus = Schema.Literals(["up", "down"])

export const Readiness = Schema.Struct({
  status: Schema.Literals(["ready", "unavailable"]),
  checks: Schema.Struct({ postgres: DependencyStatus, redis: DependencyStatus })
})

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  {
    message: Schema.String,
    checks: Schema.Struct({ postgres: DependencyStatus, redis: DependencyStatus })
  },
  { httpApiStatus: 503 }
) {}

/** Probes for load balancers and orchestrators; no authentication, no /api prefix. */
export class HealthApi extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("live", "/health/live", { success: Schema.Struct({ status: Schema.Literal("ok") }) }))
  .add(
    HttpApiEndpoint.get("ready", "/health/ready", {
      success: Readiness,
      error: NotReady.pipe(HttpApiSchema.status(503))
    })
  ) {}
