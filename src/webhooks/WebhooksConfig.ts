import { Config, ConfigProvider, Context, Effect, Layer } from "effect"
import { type AllowList, parseAllowList } from "../imap/ImapDestinations.ts"

export interface WebhooksConfigShape {
  /** WEBHOOK_ALLOW_HTTP: plain http endpoints too (tests, a local receiver); default https only. */
  readonly allowHttp: boolean
  /** WEBHOOK_DESTINATION_POLICY: `public-only` (default) refuses private, loopback, link-local... addresses. */
  readonly policy: "public-only" | "any"
  /** WEBHOOK_ALLOWED_NETWORKS: CIDRs, addresses and host names admitted under `public-only` (as IMAP_ALLOWED_NETWORKS). */
  readonly allowed: AllowList
  /** WEBHOOK_DISABLE_AFTER_FAILURES: failed attempts in a row that disable a webhook (default 20). */
  readonly disableAfter: number
  /** WEBHOOK_MAX_PER_USER: webhooks one user may have (default 20). */
  readonly maxPerUser: number
  /** WEBHOOK_CONSUMER_GROUP: the dispatchers' consumer group on the global event stream (default `webhooks`). */
  readonly consumerGroup: string
}

export class WebhooksConfig extends Context.Service<WebhooksConfig, WebhooksConfigShape>()(
  "mail-helper/WebhooksConfig"
) {
  static readonly layer = Layer.effect(
    WebhooksConfig,
    Effect.gen(function* () {
      const allowHttp = yield* Config.Boolean("WEBHOOK_ALLOW_HTTP").pipe(Config.withDefault(false))
      const policy = yield* Config.Literals(["public-only", "any"], "WEBHOOK_DESTINATION_POLICY").pipe(
        Config.withDefault("public-only" as const)
      )
      const allowed = yield* Config.String("WEBHOOK_ALLOWED_NETWORKS").pipe(
        Config.withDefault(""),
        Config.mapEffect((text) => {
          const parsed = parseAllowList(text)
          return typeof parsed === "string"
            ? Effect.fail(
                new Config.ConfigError(new ConfigProvider.SourceError({ message: parsed.replace("IMAP_", "WEBHOOK_") }))
              )
            : Effect.succeed(parsed)
        })
      )
      const disableAfter = yield* Config.Int("WEBHOOK_DISABLE_AFTER_FAILURES").pipe(Config.withDefault(20))
      const maxPerUser = yield* Config.Int("WEBHOOK_MAX_PER_USER").pipe(Config.withDefault(20))
      const consumerGroup = yield* Config.String("WEBHOOK_CONSUMER_GROUP").pipe(Config.withDefault("webhooks"))
      return WebhooksConfig.of({ allowHttp, policy, allowed, disableAfter, maxPerUser, consumerGroup })
    })
  )
}
