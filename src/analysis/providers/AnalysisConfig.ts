import { Config, Context, Duration, Effect, Layer, Option, type Redacted, Schema } from "effect"

/**
 * Configuration of the analysis providers. The offline provider is the
 * default and needs nothing; `AI_PROVIDER=openai` selects the
 * OpenAI-compatible HTTP provider (OpenAI, Ollama, vLLM, LM Studio, Mistral).
 *
 * | variable               | default                      | meaning                                                  |
 * |------------------------|------------------------------|----------------------------------------------------------|
 * | AI_PROVIDER            | offline                      | offline \| openai                                        |
 * | AI_BASE_URL            | https://api.openai.com/v1    | API base; a bare host (http://localhost:11434) gets /v1  |
 * | AI_MODEL               | gpt-4o-mini                  | chat model                                               |
 * | AI_EMBEDDING_MODEL     | text-embedding-3-small       | embedding model                                          |
 * | AI_API_KEY             | (none)                       | bearer token (Redacted); local servers usually need none |
 * | AI_TIMEOUT_MS          | 30000                        | per HTTP request                                         |
 * | AI_TEXT_BUDGET         | 6000                         | characters of mail body sent to the model                |
 * | AI_MAX_RETRIES         | 2                            | retries of transient failures inside one call            |
 * | AI_RETRY_BASE_MS       | 500                          | first backoff delay (exponential, jittered)              |
 * | AI_RESPONSE_FORMAT     | json_object                  | json_object \| json_schema \| none                       |
 * | AI_EMBEDDING_DIMENSION | 384                          | offline embedding dimension                              |
 * | AI_OFFLINE_TEXT_BUDGET | 20000                        | characters the offline classifier reads                  |
 */

export type ResponseFormatMode = "json_object" | "json_schema" | "none"

export interface OpenAiCompatibleConfig {
  /** API base including the version segment, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1 */
  readonly baseUrl: string
  readonly model: string
  readonly embeddingModel: string
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  /** Per HTTP request; on expiry the request is aborted and the failure is transient. */
  readonly timeout: Duration.Duration
  /** Characters of mail body sent to the model. */
  readonly textBudget: number
  /** Retries of transient failures (429, 5xx, network, timeout) inside one call. */
  readonly maxRetries: number
  readonly retryBaseDelay: Duration.Duration
  readonly responseFormat: ResponseFormatMode
  readonly temperature: number
  /** Name reported as `provider` in results and errors. */
  readonly providerName: string
}

export interface OfflineConfig {
  readonly embeddingDimension: number
  readonly textBudget: number
}

export type AnalysisConfigShape =
  | { readonly provider: "offline"; readonly offline: OfflineConfig }
  | { readonly provider: "openai"; readonly offline: OfflineConfig; readonly openai: OpenAiCompatibleConfig }

export const defaultOfflineConfig: OfflineConfig = { embeddingDimension: 384, textBudget: 20_000 }

/** Sensible defaults for everything but the URL and model. */
export const openAiCompatibleConfig = (
  options: Pick<OpenAiCompatibleConfig, "baseUrl" | "model"> & Partial<OpenAiCompatibleConfig>
): OpenAiCompatibleConfig => ({
  embeddingModel: "text-embedding-3-small",
  apiKey: Option.none(),
  timeout: Duration.seconds(30),
  textBudget: 6_000,
  maxRetries: 2,
  retryBaseDelay: Duration.millis(500),
  responseFormat: "json_object",
  temperature: 0,
  providerName: "openai-compatible",
  ...options,
  baseUrl: normalizeBaseUrl(options.baseUrl)
})

/** "http://localhost:11434" -> "http://localhost:11434/v1"; keeps an explicit path; no trailing slash. */
export const normalizeBaseUrl = (raw: string): string => {
  const url = new URL(raw)
  let path = url.pathname
  while (path.endsWith("/")) path = path.slice(0, -1)
  if (path === "") path = "/v1"
  url.pathname = path
  url.hash = ""
  const s = url.toString()
  return s.endsWith("/") ? s.slice(0, -1) : s
}

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** A malformed or non-positive value stops start-up with a ConfigError naming the variable. */
const positiveInt = (name: string, fallback: number) =>
  Config.schema(PositiveInt, name).pipe(Config.withDefault(fallback))

export const analysisConfig = Effect.gen(function* () {
  const provider = yield* Config.Literals(["offline", "openai"], "AI_PROVIDER").pipe(
    Config.withDefault("offline" as const)
  )
  const offline: OfflineConfig = yield* Config.all({
    embeddingDimension: positiveInt("AI_EMBEDDING_DIMENSION", 384),
    textBudget: positiveInt("AI_OFFLINE_TEXT_BUDGET", 20_000)
  })
  if (provider === "offline") return { provider, offline } satisfies AnalysisConfigShape
  const openai = yield* Config.all({
    baseUrl: Config.URL("AI_BASE_URL").pipe(Config.withDefault(new URL("https://api.openai.com/v1"))),
    model: Config.String("AI_MODEL").pipe(Config.withDefault("gpt-4o-mini")),
    embeddingModel: Config.String("AI_EMBEDDING_MODEL").pipe(Config.withDefault("text-embedding-3-small")),
    apiKey: Config.option(Config.Redacted("AI_API_KEY")),
    timeoutMs: positiveInt("AI_TIMEOUT_MS", 30_000),
    textBudget: positiveInt("AI_TEXT_BUDGET", 6_000),
    maxRetries: Config.schema(NonNegativeInt, "AI_MAX_RETRIES").pipe(Config.withDefault(2)),
    retryBaseMs: positiveInt("AI_RETRY_BASE_MS", 500),
    responseFormat: Config.Literals(["json_object", "json_schema", "none"], "AI_RESPONSE_FORMAT").pipe(
      Config.withDefault("json_object" as const)
    )
  })
  return {
    provider,
    offline,
    openai: openAiCompatibleConfig({
      baseUrl: openai.baseUrl.toString(),
      model: openai.model,
      embeddingModel: openai.embeddingModel,
      apiKey: openai.apiKey,
      timeout: Duration.millis(openai.timeoutMs),
      textBudget: openai.textBudget,
      maxRetries: openai.maxRetries,
      retryBaseDelay: Duration.millis(openai.retryBaseMs),
      responseFormat: openai.responseFormat
    })
  } satisfies AnalysisConfigShape
})

export class AnalysisConfig extends Context.Service<AnalysisConfig, AnalysisConfigShape>()(
  "mail-helper/AnalysisConfig"
) {
  static readonly layer = Layer.effect(AnalysisConfig, analysisConfig)
}
