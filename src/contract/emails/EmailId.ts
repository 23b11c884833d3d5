import { Schema } from "effect"

/** Identifier of a stored message (a UUID). */
export const EmailId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("EmailId"))
export type EmailId = typeof EmailId.Type

/** No such message for this user: unknown ids and other users' ids look the same (404). */
export class EmailNotFound extends Schema.TaggedError<EmailNotFound>()(
  "EmailNotFound",
  { message: Schema.String },
  { httpApiStatus: 404 }
) {
  static forId(id: string): EmailNotFound {
    return new EmailNotFound({ message: `no email with id ${id}` })
  }
}
