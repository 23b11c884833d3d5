import { Schema } from "effect"

/** The old file or server cannot be read: missing, truncated, not a database, connection refused. */
export class ImportSourceUnreadable extends Schema.TaggedError<ImportSourceUnreadable>()("ImportSourceUnreadable", {
  message: Schema.String
}) {}

/** The old database's Alembic revision is not one this reader was written for. */
export class UnknownSchemaVersion extends Schema.TaggedError<UnknownSchemaVersion>()("UnknownSchemaVersion", {
  message: Schema.String,
  found: Schema.String,
  known: Schema.Array(Schema.String)
}) {}

/** `--user` names nobody here, or the old database has no user with that email. */
export class ImportUserNotFound extends Schema.TaggedError<ImportUserNotFound>()("ImportUserNotFound", {
  message: Schema.String
}) {}

/** The master password does not unwrap the user's data key. Nothing has been written. */
export class WrongMasterPassword extends Schema.TaggedError<WrongMasterPassword>()("WrongMasterPassword", {
  message: Schema.String
}) {}

/** A field of the old database does not decrypt with the (correct) data key: damaged or tampered. */
export class OldDataCorrupt extends Schema.TaggedError<OldDataCorrupt>()("OldDataCorrupt", {
  message: Schema.String
}) {}

export type ImportError =
  | ImportSourceUnreadable
  | UnknownSchemaVersion
  | ImportUserNotFound
  | WrongMasterPassword
  | OldDataCorrupt
