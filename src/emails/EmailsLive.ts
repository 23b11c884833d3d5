import { Effect, Layer } from "effect"
import { EmailSummaries } from "../search/EmailSummaries.ts"
import { SearchHttpLive } from "../search/SearchHttp.ts"
import { SearchServicesLive } from "../search/SearchLive.ts"
import { Emails } from "./Emails.ts"
import { EmailsHttpLive } from "./EmailsHttp.ts"

/** Search reads its hits' summaries from the stored mail. */
const EmailSummariesLive = Layer.effect(
  EmailSummaries,
  Effect.gen(function* () {
    const emails = yield* Emails
    return EmailSummaries.of({ summaries: emails.summaries })
  })
)

/** Emails, and the search it serves "similar messages" from, over the platform (SqlClient, UserScope). */
export const EmailsServicesLive = SearchServicesLive.pipe(
  Layer.provideMerge(EmailSummariesLive),
  Layer.provideMerge(Emails.layer)
)

/** The `emails` and `search` API groups with their services; needs Jobs and the platform. */
export const EmailsHttpLayer = Layer.mergeAll(EmailsHttpLive, SearchHttpLive).pipe(Layer.provide(EmailsServicesLive))
