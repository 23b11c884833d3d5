import { Option, Schema } from "effect"
import { EmailId } from "../../../../src/contract/emails/EmailId.ts"

/** A message id from the address bar, checked by the contract's own schema (a UUID), else none. */
export const emailIdFromRoute = (raw: string | undefined): EmailId | null =>
  Option.getOrNull(Schema.decodeUnknownOption(EmailId)(raw))
