import { Context, Effect } from "effect"

/**
 * Where a provider reports the tokens one HTTP call used (the `usage` of the OpenAI-compatible
 * answer: prompt + completion for a chat completion, the input tokens of an embeddings call). The
 * default does nothing; the mail.analyze / mail.embed processors provide one bound to the job's
 * owner that counts against the owner's daily budget (src/analysis/TokenBudget.ts). Called once per
 * successful provider call that reported a usage, retries included: every call the provider billed.
 */
export type TokenUsageRecorder = (tokens: number, operation: "analyze" | "embed") => Effect.Effect<void>

export const TokenUsageRecorder = Context.Reference<TokenUsageRecorder>("mail-helper/analysis/TokenUsageRecorder", {
  defaultValue: () => () => Effect.void
})

/** Reports `tokens` to the current recorder; nothing for a call that reported no usage. */
export const recordTokenUsage = (tokens: number, operation: "analyze" | "embed"): Effect.Effect<void> =>
  tokens > 0
    ? Effect.gen(function* () {
        const record = yield* TokenUsageRecorder
        yield* record(tokens, operation)
      })
    : Effect.void
