import { Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { UserLimitsStore } from "../users/UserLimitsStore.ts"
import { MailProcessingConfig } from "./MailProcessingConfig.ts"
import { ProcessingStore } from "./ProcessingStore.ts"
import { LearningConfig } from "./personal/LearningConfig.ts"
import { PersonalModelStore } from "./personal/PersonalModelStore.ts"
import { AnalysisConfig } from "./providers/AnalysisConfig.ts"
import { Analyzer } from "./providers/Analyzer.ts"
import { TokenBudget } from "./TokenBudget.ts"

/** The configured provider (AI_PROVIDER, offline by default) as the Analyzer service. */
export const AnalyzerLive = Analyzer.layer.pipe(Layer.provide([AnalysisConfig.layer, FetchHttpClient.layer]))

/** The daily AI token budget (AI_DAILY_TOKEN_BUDGET and the admins' overrides); Redis, SqlClient and UserScope from the platform. */
export const TokenBudgetLive = TokenBudget.layer.pipe(Layer.provide(UserLimitsStore.layer))

/** What the mail.analyze / mail.embed processors and the emails/search handlers need; SqlClient, Redis and UserScope come from the platform. */
export const AnalysisLive = Layer.mergeAll(
  AnalyzerLive,
  ProcessingStore.layer,
  MailProcessingConfig.layer,
  PersonalModelStore.layer,
  LearningConfig.layer,
  TokenBudgetLive
)
