/**
 * The signature of a delivery (docs/webhooks.md has the receiver's side):
 * `X-MailHelper-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The timestamp is inside the signed text, so a receiver that rejects old timestamps rejects replays.
 */
import { Redacted } from "effect"
import { createHmac, randomBytes } from "node:crypto"

export const signatureHeader = "x-mailhelper-signature"
export const eventHeader = "x-mailhelper-event"
export const deliveryHeader = "x-mailhelper-delivery"

/** A new signing secret: `whsec_` and 32 random bytes in base64url. */
export const newSecret = (): Redacted.Redacted<string> =>
  Redacted.make(`whsec_${randomBytes(32).toString("base64url")}`)

export const signature = (secret: Redacted.Redacted<string>, timestamp: number, body: string): string =>
  createHmac("sha256", Redacted.value(secret)).update(`${timestamp}.${body}`).digest("hex")

export const signatureValue = (secret: Redacted.Redacted<string>, timestamp: number, body: string): string =>
  `t=${timestamp},v1=${signature(secret, timestamp, body)}`
