import { ByteSize, Effect } from "effect"
import { HttpIncomingMessage, HttpRouter } from "effect/http"

/** Largest request body any endpoint accepts; larger ones are refused before they are read whole. */
export const maxRequestBodyBytes = 1024 * 1024

export const RequestLimitsLive = HttpRouter.middleware(
  (httpApp) => Effect.provideService(httpApp, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxRequestBodyBytes)),
  { global: true }
)
