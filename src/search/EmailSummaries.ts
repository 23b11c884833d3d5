import { Context, type Effect } from "effect"
import type { EmailSummary } from "../contract/emails/EmailViews.ts"
import type { DatabaseError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"

/**
 * What search needs of the stored mail: the summaries of its hits. Declared here and provided by the
 * emails folder (emails/EmailsLive.ts), which stands on search for its "similar messages" endpoint,
 * so that the two folders do not import each other.
 */
export class EmailSummaries extends Context.Service<
  EmailSummaries,
  {
    /** The user's messages among `ids`, as summaries keyed by id (unknown and foreign ids are left out). */
    readonly summaries: (
      userId: UserId,
      ids: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyMap<string, EmailSummary>, DatabaseError>
  }
>()("mail-helper/EmailSummaries") {}
