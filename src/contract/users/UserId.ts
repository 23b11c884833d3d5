import { Schema } from "effect"

/** Identifier of a user (a UUID). Every user-owned row and every job carries one. */
export const UserId = Schema.String.pipe(Schema.check(Schema.isUUID()), Schema.brand("UserId"))
export type UserId = typeof UserId.Type
