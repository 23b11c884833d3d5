import { createHash } from "node:crypto"
import { Schema } from "effect"
import { EmailId } from "../../contract/emails/EmailId.ts"
import { PermanentJobError, TransientJobError } from "../../jobs/JobKind.ts"
import { UserId } from "../../contract/users/UserId.ts"
import type { AnalysisProviderError } from "../../contract/analysis/Analysis.ts"

/** Most message ids one job may name. */
export const MAX_EMAIL_IDS = 1_000

export const AccountId = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const EmailIds = Schema.Array(EmailId).pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_EMAIL_IDS))
)

/**
 * Fields both mail jobs share. `owner` repeats the job's owner only so the
 * de-duplication key can name it (a job kind's key sees the payload alone);
 * the processor refuses a payload whose owner is not the job's.
 */
export const MailSelectionFields = {
  owner: UserId,
  /** Only these messages (still only when they are due); omit for all of the owner's due mail. */
  emailIds: Schema.optionalKey(EmailIds),
  /** Only this account's messages. */
  accountId: Schema.optionalKey(AccountId)
}

/** `<owner>:ids:<hash of the sorted ids>` or `<owner>:<what>:<account or all>`. */
export const selectionKey = (
  what: string,
  payload: { readonly owner: string; readonly emailIds?: ReadonlyArray<string>; readonly accountId?: string }
): string => {
  if (payload.emailIds !== undefined) {
    const digest = createHash("sha256")
      .update([...payload.emailIds].sort().join(","))
      .digest("hex")
      .slice(0, 32)
    return `${payload.owner}:ids:${digest}`
  }
  return `${payload.owner}:${what}:${payload.accountId ?? "all"}`
}

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
