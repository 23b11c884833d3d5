import { Context, Effect, Layer } from "effect"
import { appTestLayer } from "../emails/helpers.ts"
import { type FakeOpenAi, startFakeOpenAi } from "./fakeOpenAi.ts"

/** The scripted OpenAI-compatible server the app of `fakeOpenAiAppLayer` talks to. */
export class FakeOpenAiServer extends Context.Service<FakeOpenAiServer, FakeOpenAi>()(
  "test/analysis/FakeOpenAiServer"
) {}

/**
 * The real API and worker (`appTestLayer`) analysing and embedding through the fake OpenAI-compatible
 * server of `fakeOpenAi.ts`, which the tests reach as `FakeOpenAiServer`: provider "openai" at the
 * fake's address, models "fake-model" and "fake-embed", no retries (a scripted failure fails at once).
 * `settings` adds or overrides settings (timeouts, batch sizes, budgets); `script` sets the fake's
 * answers before the worker starts.
 */
export const fakeOpenAiAppLayer = (
  settings: Readonly<Record<string, string>> = {},
  script: (fake: FakeOpenAi) => void = () => {}
) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const fake = yield* startFakeOpenAi
      script(fake)
      return appTestLayer({
        AI_PROVIDER: "openai",
        AI_BASE_URL: fake.baseUrl,
        AI_MODEL: "fake-model",
        AI_EMBEDDING_MODEL: "fake-embed",
        AI_MAX_RETRIES: "0",
        AI_RETRY_BASE_MS: "5",
        ...settings
      }).pipe(Layer.merge(Layer.succeed(FakeOpenAiServer, fake)))
    })
  )
