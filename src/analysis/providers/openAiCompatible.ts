import { randomBytes } from "node:crypto"
import { Duration, Effect, Option, Redacted, Schedule, Schema, Stream } from "effect"
import { AiError, EmbeddingModel, LanguageModel, OpenAiStructuredOutput, type Prompt, type Response } from "effect/ai"
import { HttpClient, type HttpClientError, HttpClientRequest } from "effect/http"
import {
  AnalysisProviderError,
  AnalysisResult,
  type AnalysisInput,
  Category,
  type EmbeddingBatch,
  Language,
  Level,
  type ProviderAnalysis,
  type ProviderErrorReason,
  SUMMARY_MAX_CHARS,
  TAG_MAX_CHARS,
  TAGS_MAX
} from "../../contract/analysis/Analysis.ts"
import { truncateAtWord } from "../offline/text.ts"
import type { OpenAiCompatibleConfig } from "./AnalysisConfig.ts"
import type { AnalyzerShape } from "./AnalyzerShape.ts"
import { buildPrompt } from "./prompt.ts"
import { recordTokenUsage } from "./TokenUsage.ts"

/**
 * OpenAI-compatible provider (OpenAI, Ollama, vLLM, LM Studio, Mistral, ...):
 * `effect/ai` LanguageModel and EmbeddingModel implementations over
 * `effect/http` HttpClient calling `POST {base}/chat/completions` (JSON output,
 * no tools, no streaming) and `POST {base}/embeddings`, and an Analyzer built
 * on them.
 *
 * Errors: 429, 408, 5xx, network failures and timeouts are transient; other
 * 4xx are permanent; a reply that is not a valid analysis is invalid_output
 * (retried once). Error texts are built here from status codes and a short,
 * scrubbed snippet of the provider's own error message: the API key (sent
 * only as a bearer token, which the HttpClient redacts in spans) never
 * appears in errors.
 */

const MODULE = "OpenAiCompatible"
const SNIPPET_MAX = 240

// ---------------------------------------------------------------------------
// scrubbing
// ---------------------------------------------------------------------------

const isTokenChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95 || c === 46

/** Remove secrets from a provider message: the configured key, bearer tokens, sk-... keys. */
export const scrub = (text: string, apiKey: Option.Option<Redacted.Redacted<string>>): string => {
  let s = text
  if (Option.isSome(apiKey)) {
    const key = Redacted.value(apiKey.value)
    if (key.length >= 4) s = s.split(key).join("[redacted]")
  }
  for (const marker of ["bearer ", "sk-"]) {
    let out = ""
    let i = 0
    const lower = s.toLowerCase()
    while (i < s.length) {
      const at = lower.indexOf(marker, i)
      if (at === -1) {
        out += s.slice(i)
        break
      }
      let end = at + marker.length
      while (end < s.length && isTokenChar(s.charCodeAt(end))) end++
      const tokenLength = end - at - marker.length
      out += s.slice(i, at)
      out += tokenLength >= 8 ? `${s.slice(at, at + marker.length)}[redacted]` : s.slice(at, end)
      i = end
    }
    s = out
  }
  return truncateAtWord(s.replaceAll("\n", " ").trim(), SNIPPET_MAX)
}

/** URL for error messages: no credentials, no query string. */
const safeUrl = (url: string): string => {
  try {
    const u = new URL(url)
    u.username = ""
    u.password = ""
    u.search = ""
    return u.toString()
  } catch {
    return "(invalid url)"
  }
}

/** The provider's own error message out of a JSON error body, if any. */
const providerMessage = (body: string): string => {
  try {
    const json: unknown = JSON.parse(body)
    if (typeof json === "object" && json !== null && "error" in json) {
      const error: unknown = json.error
      if (typeof error === "string") return error
      if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string")
        return error.message
    }
    if (typeof json === "object" && json !== null && "message" in json && typeof json.message === "string")
      return json.message
  } catch {
    // not JSON: use the text itself
  }
  return body
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

const retryAfterOf = (value: string | undefined): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const seconds = Number(value)
  return Number.isFinite(seconds) && seconds >= 0 ? Duration.seconds(seconds) : undefined
}

const statusReason = (status: number, snippet: string, retryAfter: string | undefined): AiError.AiErrorReason => {
  const http = { response: { status, headers: {} }, body: snippet }
  const description = `HTTP ${status}${snippet.length > 0 ? `: ${snippet}` : ""}`
  if (status === 429) {
    const after = retryAfterOf(retryAfter)
    return after === undefined
      ? new AiError.RateLimitError({ http })
      : new AiError.RateLimitError({ http, retryAfter: after })
  }
  if (status === 408 || status >= 500) return new AiError.InternalProviderError({ description, http })
  if (status === 401 || status === 403)
    return new AiError.AuthenticationError({
      kind: status === 401 ? "InvalidKey" : "InsufficientPermissions",
      description,
      http
    })
  return new AiError.InvalidRequestError({ description, http })
}

const requestErrorReason = (error: HttpClientError.HttpClientError, url: string): AiError.AiErrorReason => {
  const r = error.reason
  switch (r._tag) {
    case "TransportError":
    case "EncodeError":
    case "InvalidUrlError":
      return new AiError.NetworkError({
        reason: r._tag,
        method: "POST",
        url,
        description: r._tag === "TransportError" ? "the provider could not be reached" : r._tag
      })
    default:
      return new AiError.InvalidResponseError({ description: `unreadable response (${r._tag})` })
  }
}

interface Http {
  readonly postJson: (path: string, body: unknown, method: string) => Effect.Effect<unknown, AiError.AiError>
}

const makeHttp = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const timeoutMs = Duration.toMillis(config.timeout)
    const postJson = (path: string, body: unknown, method: string): Effect.Effect<unknown, AiError.AiError> => {
      const url = `${config.baseUrl}${path}`
      const shownUrl = safeUrl(url)
      const fail = (reason: AiError.AiErrorReason) => Effect.fail(AiError.make({ module: MODULE, method, reason }))
      let request = HttpClientRequest.post(url).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyJsonUnsafe(body)
      )
      if (Option.isSome(config.apiKey)) request = HttpClientRequest.bearerToken(request, config.apiKey.value)
      return Effect.gen(function* () {
        const response = yield* client.execute(request).pipe(Effect.catch((e) => fail(requestErrorReason(e, shownUrl))))
        if (response.status < 200 || response.status >= 300) {
          const text = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
          return yield* fail(
            statusReason(response.status, scrub(providerMessage(text), config.apiKey), response.headers["retry-after"])
          )
        }
        return yield* response.json.pipe(
          Effect.catch(() => fail(new AiError.InvalidResponseError({ description: "the response body is not JSON" })))
        )
      }).pipe(
        Effect.timeoutOrElse({
          duration: config.timeout,
          orElse: () =>
            fail(
              new AiError.NetworkError({
                reason: "TransportError",
                method: "POST",
                url: shownUrl,
                description: `timed out after ${timeoutMs} ms`
              })
            )
        }),
        Effect.withSpan(`${MODULE}.${method}`, { kind: "client", attributes: { "http.url": shownUrl } })
      )
    }
    return { postJson } satisfies Http
  })

// ---------------------------------------------------------------------------
// effect/ai LanguageModel
// ---------------------------------------------------------------------------

const ChatCompletion = Schema.Struct({
  choices: Schema.Array(
    Schema.Struct({
      message: Schema.Struct({
        content: Schema.optional(Schema.NullOr(Schema.String)),
        refusal: Schema.optional(Schema.NullOr(Schema.String))
      }),
      finish_reason: Schema.optional(Schema.NullOr(Schema.String))
    })
  ),
  usage: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)),
        completion_tokens: Schema.optional(Schema.NullOr(Schema.Number))
      })
    )
  )
})

type FinishReason = Response.FinishPartEncoded["reason"]
const finishReason = (raw: string | null | undefined): FinishReason => {
  switch (raw) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

interface ChatMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

const unsupported = (method: string, description: string) =>
  AiError.make({ module: MODULE, method, reason: new AiError.InvalidUserInputError({ description }) })

/** Prompt -> chat messages. Only text is supported; anything else fails rather than being dropped. */
const toChatMessages = (prompt: Prompt.Prompt): Effect.Effect<Array<ChatMessage>, AiError.AiError> =>
  Effect.suspend(() => {
    const out: Array<ChatMessage> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system":
          out.push({ role: "system", content: message.content })
          break
        case "user":
        case "assistant": {
          const texts: Array<string> = []
          for (const part of message.content) {
            if (part.type === "text") texts.push(part.text)
            else if (part.type === "reasoning") continue
            else return Effect.fail(unsupported("generateText", `unsupported ${message.role} content: ${part.type}`))
          }
          out.push({ role: message.role, content: texts.join("\n") })
          break
        }
        case "tool":
          return Effect.fail(
            unsupported("generateText", "tool messages are not supported (this provider has no tools)")
          )
      }
    }
    return Effect.succeed(out)
  })

/** A usage figure as reported, 0 when missing or not a non-negative integer. */
const tokenCount = (n: number | null | undefined): number =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : 0

const optionalInt = (n: number | null | undefined): { readonly total?: number } =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 ? { total: n } : {}

export const makeOpenAiLanguageModel = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    const http = yield* makeHttp(config)
    const decodeCompletion = Schema.decodeUnknownEffect(ChatCompletion)
    const generateText = (options: LanguageModel.ProviderOptions) =>
      Effect.gen(function* () {
        if (options.tools.length > 0)
          return yield* unsupported("generateText", "tools are not supported by this provider")
        const messages = yield* toChatMessages(options.prompt)
        const format = options.responseFormat
        const responseFormat =
          format.type === "text" || config.responseFormat === "none"
            ? {}
            : config.responseFormat === "json_schema"
              ? {
                  response_format: {
                    type: "json_schema",
                    json_schema: {
                      name: format.objectName.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64),
                      strict: true,
                      schema: OpenAiStructuredOutput.toCodecOpenAI(format.schema).jsonSchema
                    }
                  }
                }
              : { response_format: { type: "json_object" } }
        const json = yield* http.postJson(
          "/chat/completions",
          { model: config.model, messages, temperature: config.temperature, stream: false, ...responseFormat },
          "generateText"
        )
        const completion = yield* decodeCompletion(json).pipe(
          Effect.catch(() =>
            Effect.fail(
              AiError.make({
                module: MODULE,
                method: "generateText",
                reason: new AiError.InvalidResponseError({ description: "the response is not a chat completion" })
              })
            )
          )
        )
        // every answered call is billed, also one whose content turns out unusable: count it now
        yield* recordTokenUsage(
          tokenCount(completion.usage?.prompt_tokens) + tokenCount(completion.usage?.completion_tokens),
          "analyze"
        )
        const choice = completion.choices[0]
        if (choice === undefined)
          return yield* AiError.make({
            module: MODULE,
            method: "generateText",
            reason: new AiError.InvalidResponseError({ description: "the response has no choices" })
          })
        const parts: Array<Response.PartEncoded> = [
          { type: "text", text: choice.message.content ?? "" },
          {
            type: "finish",
            reason: finishReason(choice.finish_reason),
            usage: {
              inputTokens: optionalInt(completion.usage?.prompt_tokens),
              outputTokens: optionalInt(completion.usage?.completion_tokens)
            }
          }
        ]
        return parts
      })
    return yield* LanguageModel.make({
      generateText,
      streamText: () =>
        Stream.fail(
          AiError.make({
            module: MODULE,
            method: "streamText",
            reason: new AiError.InvalidRequestError({ description: "streaming is not supported by this provider" })
          })
        ),
      ...(config.responseFormat === "json_schema" ? { codecTransformer: OpenAiStructuredOutput.toCodecOpenAI } : {})
    })
  })

// ---------------------------------------------------------------------------
// effect/ai EmbeddingModel
// ---------------------------------------------------------------------------

const EmbeddingsResponse = Schema.Struct({
  data: Schema.Array(
    Schema.Struct({
      embedding: Schema.Array(Schema.Finite),
      index: Schema.optional(Schema.Int)
    })
  ),
  usage: Schema.optional(Schema.NullOr(Schema.Struct({ prompt_tokens: Schema.optional(Schema.NullOr(Schema.Number)) })))
})

export const makeOpenAiEmbeddingModel = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    const http = yield* makeHttp(config)
    const decode = Schema.decodeUnknownEffect(EmbeddingsResponse)
    return yield* EmbeddingModel.make({
      embedMany: ({ inputs }) =>
        Effect.gen(function* () {
          const json = yield* http.postJson("/embeddings", { model: config.embeddingModel, input: inputs }, "embedMany")
          const response = yield* decode(json).pipe(
            Effect.catch(() =>
              Effect.fail(
                AiError.make({
                  module: MODULE,
                  method: "embedMany",
                  reason: new AiError.InvalidResponseError({ description: "the response is not an embeddings list" })
                })
              )
            )
          )
          yield* recordTokenUsage(tokenCount(response.usage?.prompt_tokens), "embed")
          const ordered = response.data.map((d, i) => ({ index: d.index ?? i, vector: d.embedding }))
          ordered.sort((a, b) => a.index - b.index)
          const tokens = response.usage?.prompt_tokens
          return {
            results: ordered.map((d) => [...d.vector]),
            usage: { inputTokens: typeof tokens === "number" ? tokens : undefined }
          }
        })
    })
  })

// ---------------------------------------------------------------------------
// Analyzer
// ---------------------------------------------------------------------------

/** What the model must answer: types and closed sets are strict; lengths are normalised afterwards. */
export const ModelOutput = Schema.Struct({
  urgency: Level,
  importance: Level,
  category: Category,
  spam: Schema.Boolean,
  summary: Schema.String,
  tags: Schema.Array(Schema.String).check(Schema.isMaxLength(64)),
  language: Language,
  confidence: Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
}).annotate({ identifier: "mail_analysis" })
export type ModelOutput = typeof ModelOutput.Type

const collapseWhitespace = (s: string): string => s.split(/\s+/).join(" ").trim()

/** Cut the summary, clean the tags; everything else already matched the schema exactly. */
export const normalizeModelOutput = (o: ModelOutput): AnalysisResult => {
  const tags: Array<string> = []
  for (const raw of o.tags) {
    const tag = collapseWhitespace(raw.toLowerCase()).slice(0, TAG_MAX_CHARS).trim()
    if (tag.length > 0 && !tags.includes(tag)) tags.push(tag)
    if (tags.length >= TAGS_MAX) break
  }
  return {
    urgency: o.urgency,
    importance: o.importance,
    category: o.category,
    spam: o.spam,
    summary: truncateAtWord(collapseWhitespace(o.summary), SUMMARY_MAX_CHARS),
    tags,
    language: o.language,
    confidence: o.confidence
  }
}

interface Failure {
  readonly reason: ProviderErrorReason
  readonly status?: number
  readonly detail: string
}

const statusOf = (r: AiError.AiErrorReason): number | undefined =>
  "http" in r && r.http !== undefined ? r.http.response?.status : undefined

const firstLine = (s: string): string => {
  const nl = s.indexOf("\n")
  return nl === -1 ? s : s.slice(0, nl)
}

const toFailure =
  (config: OpenAiCompatibleConfig) =>
  (e: AiError.AiError): Failure => {
    const r = e.reason
    const status = statusOf(r)
    const withStatus = (f: { readonly reason: ProviderErrorReason; readonly detail: string }): Failure =>
      status === undefined ? f : { ...f, status }
    switch (r._tag) {
      case "RateLimitError":
        return withStatus({
          reason: "transient",
          detail: `rate limited (HTTP 429)${r.http?.body ? `: ${r.http.body}` : ""}`
        })
      case "InternalProviderError":
        return withStatus({ reason: "transient", detail: r.description })
      case "NetworkError":
        return withStatus({
          reason: r.reason === "TransportError" ? "transient" : "permanent",
          detail: `${r.description ?? r.reason} (${r.url})`
        })
      case "StructuredOutputError":
      case "InvalidOutputError":
        return withStatus({
          reason: "invalid_output",
          detail: `model output does not match the analysis schema: ${scrub(firstLine(r.description), config.apiKey)}`
        })
      case "InvalidResponseError":
        return withStatus({ reason: "invalid_output", detail: r.description })
      case "AuthenticationError":
        return withStatus({ reason: "permanent", detail: `authentication failed: ${r.description ?? r.kind}` })
      case "InvalidRequestError":
        return withStatus({ reason: "permanent", detail: `request rejected: ${r.description ?? "invalid request"}` })
      case "QuotaExhaustedError":
        return withStatus({ reason: "permanent", detail: "quota exhausted" })
      case "ContentPolicyError":
        return withStatus({ reason: "permanent", detail: `content policy: ${r.description}` })
      default:
        return withStatus({ reason: "permanent", detail: r._tag })
    }
  }

export const makeOpenAiAnalyzer = (config: OpenAiCompatibleConfig) =>
  Effect.gen(function* () {
    const lm = yield* makeOpenAiLanguageModel(config)
    const em = yield* makeOpenAiEmbeddingModel(config)
    const provider = config.providerName
    const mapFailure = toFailure(config)
    const transientRetry = <A>(effect: Effect.Effect<A, Failure>) =>
      effect.pipe(
        Effect.retry({
          schedule: Schedule.exponential(config.retryBaseDelay).pipe(Schedule.jittered),
          times: config.maxRetries,
          while: (f: Failure) => f.reason === "transient"
        })
      )
    const providerError = (operation: "analyze" | "embed", attempts: number) => (f: Failure) => {
      const model = operation === "analyze" ? config.model : config.embeddingModel
      return new AnalysisProviderError({
        reason: f.reason,
        provider,
        operation,
        attempts,
        ...(f.status === undefined ? {} : { status: f.status }),
        message: `${operation} via ${provider} (${model}) failed, ${f.reason} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${f.detail}`
      })
    }

    const analyze = (input: AnalysisInput): Effect.Effect<ProviderAnalysis, AnalysisProviderError> =>
      Effect.gen(function* () {
        const nonce = yield* Effect.sync(() => randomBytes(12).toString("hex"))
        const prompt = buildPrompt(input, { textBudget: config.textBudget, nonce })
        let attempts = 0
        const once = Effect.suspend(() => {
          attempts++
          return lm.generateObject({
            prompt: [
              { role: "system", content: prompt.system },
              { role: "user", content: prompt.user }
            ],
            schema: ModelOutput,
            objectName: "mail_analysis"
          })
        }).pipe(Effect.mapError(mapFailure))
        const response = yield* transientRetry(once).pipe(
          // output that does not match the schema: one more try, then give up with the reason
          Effect.retry({ times: 1, while: (f: Failure) => f.reason === "invalid_output" }),
          Effect.mapError((f) => providerError("analyze", attempts)(f))
        )
        const result = yield* Schema.decodeUnknownEffect(AnalysisResult)(normalizeModelOutput(response.value)).pipe(
          Effect.mapError(() =>
            providerError(
              "analyze",
              attempts
            )({ reason: "invalid_output", detail: "normalised output is not an analysis" })
          )
        )
        return { ...result, provider, model: config.model }
      }).pipe(
        Effect.withSpan("Analyzer.analyze", {
          attributes: { "analysis.provider": provider, "analysis.model": config.model }
        })
      )

    const embed = (texts: ReadonlyArray<string>): Effect.Effect<EmbeddingBatch, AnalysisProviderError> =>
      Effect.gen(function* () {
        if (texts.length === 0) return { model: config.embeddingModel, dimension: 0, vectors: [] }
        const inputs = texts.map((t) => truncateAtWord(t, config.textBudget, ""))
        let attempts = 0
        const once = Effect.suspend(() => {
          attempts++
          return em.embedMany(inputs)
        }).pipe(
          Effect.mapError(mapFailure),
          Effect.flatMap((response) => {
            const vectors = response.embeddings.map((e) => e.vector)
            const dimension = vectors[0]?.length ?? 0
            return dimension > 0 && vectors.every((v) => v.length === dimension)
              ? Effect.succeed({ vectors, dimension })
              : Effect.fail<Failure>({ reason: "invalid_output", detail: "embeddings have inconsistent dimensions" })
          })
        )
        const { vectors, dimension } = yield* transientRetry(once).pipe(
          Effect.retry({ times: 1, while: (f: Failure) => f.reason === "invalid_output" }),
          Effect.mapError((f) => providerError("embed", attempts)(f))
        )
        return { model: config.embeddingModel, dimension, vectors }
      }).pipe(
        Effect.withSpan("Analyzer.embed", {
          attributes: {
            "analysis.provider": provider,
            "analysis.model": config.embeddingModel,
            "analysis.count": texts.length
          }
        })
      )

    return {
      provider,
      model: config.model,
      embeddingModel: config.embeddingModel,
      analyze,
      embed
    } satisfies AnalyzerShape
  })
