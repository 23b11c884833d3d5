/**
 * Where a webhook may point: the URL's scheme (https; http only with WEBHOOK_ALLOW_HTTP) and its
 * host under the same destination policy as IMAP hosts (src/imap/ImapDestinations.ts, reused, not
 * copied): with `public-only` (the default) every address the host resolves to must be public
 * unicast or inside WEBHOOK_ALLOWED_NETWORKS. Checked when a webhook is created or changed AND at
 * every delivery, where the request then connects to the checked address (DNS rebinding).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { type Lookup, makeImapDestinations, systemLookup } from "../imap/ImapDestinations.ts"
import { WebhooksConfig, type WebhooksConfigShape } from "./WebhooksConfig.ts"

export class DestinationRefused extends Schema.TaggedError<DestinationRefused>()("DestinationRefused", {
  message: Schema.String
}) {}

/** Where one delivery connects: the parsed URL, and the address to connect to (undefined: resolve normally, policy `any`). */
export interface Destination {
  readonly url: URL
  /** The host name without IPv6 brackets. */
  readonly hostname: string
  readonly address: string | undefined
}

export interface WebhookDestinationsShape {
  /** The URL's form only (scheme, no credentials): what create checks before resolving. */
  readonly parse: (url: string) => Effect.Effect<URL, DestinationRefused>
  /** Parses, resolves and checks; fails before any socket is opened. */
  readonly resolve: (url: string) => Effect.Effect<Destination, DestinationRefused>
}

export const makeWebhookDestinations = (
  config: Pick<WebhooksConfigShape, "allowHttp" | "policy" | "allowed">,
  lookup: Lookup = systemLookup
): WebhookDestinationsShape => {
  const policy = makeImapDestinations({ policy: config.policy, allowed: config.allowed }, lookup)
  const parse = (text: string) =>
    Effect.gen(function* () {
      const url = URL.canParse(text) ? new URL(text) : undefined
      if (url === undefined) return yield* new DestinationRefused({ message: "the URL is not a valid absolute URL" })
      if (url.protocol !== "https:" && !(url.protocol === "http:" && config.allowHttp)) {
        return yield* new DestinationRefused({
          message: config.allowHttp ? "the URL must be http or https" : "the URL must be https"
        })
      }
      if (url.username !== "" || url.password !== "") {
        return yield* new DestinationRefused({ message: "the URL must not carry a user name or password" })
      }
      return url
    })
  const resolve = (text: string) =>
    Effect.gen(function* () {
      const url = yield* parse(text)
      const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
      const checked = yield* policy.resolve(hostname).pipe(
        Effect.mapError(
          (error) =>
            new DestinationRefused({
              message:
                error.reason === "not_allowed"
                  ? `${hostname} is not an allowed webhook destination: private, loopback, link-local and other non-public addresses are refused (WEBHOOK_DESTINATION_POLICY=public-only; an admin can admit a network with WEBHOOK_ALLOWED_NETWORKS)`
                  : `${hostname} does not resolve`
            })
        )
      )
      return { url, hostname, address: config.policy === "any" ? undefined : checked.address }
    })
  return { parse, resolve }
}

export class WebhookDestinations extends Context.Service<WebhookDestinations, WebhookDestinationsShape>()(
  "mail-helper/WebhookDestinations"
) {
  static readonly layer = Layer.effect(
    WebhookDestinations,
    Effect.gen(function* () {
      const config = yield* WebhooksConfig
      return WebhookDestinations.of(makeWebhookDestinations(config))
    })
  )
}
