import { Effect, Layer } from "effect"
import { EmailSummaries } from "../search/EmailSummaries.ts"
import { SearchLive } from "../search/SearchLive.ts"
import { EmailStore } from "./EmailStore.ts"

/** Search reads its hits' summaries from the stored mail. */
const EmailSummariesLive = Layer.effect(
  EmailSummaries,
  Effect.gen(function* () {
    const emails = yield* EmailStore
    return EmailSummaries.of({ summaries: emails.summaries })
  })
)

/** The stored mail and the search it serves "similar messages" from, over the platform (SqlClient, UserScope). */
export const EmailsLive = SearchLive.pipe(Layer.provideMerge(EmailSummariesLive), Layer.provideMerge(EmailStore.layer))
