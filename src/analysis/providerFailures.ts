import { PermanentJobError, TransientJobError } from "../contract/jobs/JobKind.ts"
import type { AnalysisProviderError } from "../contract/analysis/Analysis.ts"

/**
 * A provider failure that no message-by-message handling can fix: the
 * configuration is wrong (bad key 401/403, unknown model 404, unusable URL).
 * The job fails permanently and the messages stay pending.
 */
export const isConfigurationError = (error: AnalysisProviderError): boolean =>
  error.reason === "permanent" && (error.status === undefined || [401, 403, 404].includes(error.status))

/** Transient provider trouble: the job retries later with backoff. */
export const providerUnavailable = (error: AnalysisProviderError) =>
  new TransientJobError({ code: "provider_unavailable", message: error.message })

export const providerRejected = (error: AnalysisProviderError) =>
  new PermanentJobError({ code: "provider_configuration", message: error.message })
