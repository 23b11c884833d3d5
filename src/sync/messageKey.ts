/**
 * "The same message" within an account (migration 0057): a server that files one message in
 * several folders (Gmail: one copy per label and one in `[Gmail]/All Mail`; any server after a
 * COPY) gives the sync one row per copy, and those rows share this key.
 *
 * The key is a sha256 over, each field length-prefixed (octets): the normalised Message-ID, the
 * lower-cased sender address, the Date header (epoch milliseconds), the subject and the text body
 * (the HTML body when there is no text). Everything comes from what the sync already parsed, and
 * the migration computes the same value in SQL for rows stored before it.
 *
 * Why not the Message-ID alone: anyone can send a message with somebody else's Message-ID; with the
 * Message-ID alone such a message would hide behind the genuine one (neither analysed nor found on
 * its own). A re-sent message with the same Message-ID but changed content is therefore two
 * messages; an identical re-delivery (an MTA retry, a COPY) is one. The size and the trace headers
 * (Received, Delivered-To, X-Spam-*) are left out on purpose: they differ between deliveries of the
 * same message. Without a Message-ID the other fields still tell copies apart from different mail.
 */
import { createHash } from "node:crypto"
import { normaliseMessageId } from "./mime.ts"

export interface MessageKeyInput {
  readonly messageId: string | null
  readonly fromAddress: string | null
  readonly sentAt: Date | null
  readonly subject: string | null
  readonly textBody: string | null
  readonly htmlBody: string | null
}

const field = (value: string | null): string => `${Buffer.byteLength(value ?? "", "utf8")}:${value ?? ""}`

/**
 * The key of a message as stored (pass the values after `cleanString`, as they go into the database,
 * so the SQL backfill of migration 0057 computes the same key).
 */
export const messageKeyFor = (input: MessageKeyInput): string => {
  const body = input.textBody === null || input.textBody === "" ? input.htmlBody : input.textBody
  const date = input.sentAt === null || Number.isNaN(input.sentAt.getTime()) ? null : String(input.sentAt.getTime())
  return createHash("sha256")
    .update(
      field(normaliseMessageId(input.messageId)) +
        field(input.fromAddress === null ? null : input.fromAddress.toLowerCase()) +
        field(date) +
        field(input.subject) +
        field(body),
      "utf8"
    )
    .digest("base64")
}
