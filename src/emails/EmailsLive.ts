import { Layer } from "effect"
import { MailProcessingLive } from "../analysis/AnalysisLive.ts"
import { Search } from "../search/Search.ts"
import { SearchConfig } from "../search/SearchConfig.ts"
import { SearchHttpLive } from "../search/SearchHttp.ts"
import { VectorIndex } from "../search/VectorIndex.ts"
import { Emails } from "./Emails.ts"
import { EmailsHttpLive } from "./EmailsHttp.ts"

/** Emails, Search and the vector index (one per process), over the platform (SqlClient, UserScope). */
export const EmailsServicesLive = Search.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(VectorIndex.layer.pipe(Layer.provide(SearchConfig.layer)), Emails.layer)),
  Layer.provideMerge(MailProcessingLive)
)

/** The `emails` and `search` API groups with their services; needs Jobs and the platform. */
export const EmailsHttpLayer = Layer.mergeAll(EmailsHttpLive, SearchHttpLive).pipe(Layer.provide(EmailsServicesLive))
