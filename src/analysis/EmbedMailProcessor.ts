import { Effect } from "effect"
import { currentOwner } from "../jobs/CurrentJob.ts"
import { EmbedMailJob, type EmbedMailPayload } from "../contract/jobs/EmbedMailJob.ts"
import { CurrentJob } from "../jobs/CurrentJob.ts"
import { makeProcessor } from "../jobs/JobProcessor.ts"
import { databaseTrouble } from "../jobs/DatabaseTrouble.ts"
import { makeEmbedPending } from "./embedPending.ts"
import { type EmbeddingMode, ProcessingStore } from "./ProcessingStore.ts"
import { Analyzer } from "./providers/Analyzer.ts"

export const EmbedMailProcessor = makeProcessor(
  EmbedMailJob,
  Effect.gen(function* () {
    const analyzer = yield* Analyzer
    const store = yield* ProcessingStore
    // the loop itself (claims, budget, yields, the provider's failures): embedPending.ts
    const embedPending = yield* makeEmbedPending

    return (payload: EmbedMailPayload) =>
      Effect.gen(function* () {
        const job = yield* CurrentJob
        const owner = yield* currentOwner
        const selection = { emailIds: payload.emailIds, accountId: payload.accountId }
        const mode: EmbeddingMode =
          payload.refreshBefore === undefined
            ? { _tag: "pending" }
            : { _tag: "refresh", model: analyzer.embeddingModel, before: payload.refreshBefore, afterId: null }
        const phase = mode._tag === "pending" ? "embedding" : "re-embedding"
        let total = yield* store.countEmbedding(owner, selection, mode)
        yield* job.progress({ phase, done: 0, total })
        const result = yield* embedPending(owner, selection, mode, ({ embedded, failed, done }) => {
          total = Math.max(total, done)
          return job.progress({ phase, done, total, message: `${embedded} embedded, ${failed} failed` })
        })
        return { embedded: result.embedded, failed: result.failed, model: result.model }
      }).pipe(
        Effect.catchTag("SqlError", databaseTrouble),
        Effect.withSpan("mail.embed", { attributes: { "analysis.model": analyzer.embeddingModel } })
      )
  })
)
