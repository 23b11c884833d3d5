import { Schema } from "effect"
import { EmailId } from "../emails/EmailId.ts"

/** Most message ids one job may name. */
export const MAX_EMAIL_IDS = 1_000

export const AccountId = Schema.String.pipe(Schema.check(Schema.isUUID()))

export const EmailIds = Schema.Array(EmailId).pipe(
  Schema.check(Schema.isMinLength(1), Schema.isMaxLength(MAX_EMAIL_IDS))
)

/** Fields both mail jobs share: which of the owner's messages (the job's owner, from its record). */
export const MailSelectionFields = {
  /** Only these messages (still only when they are due); omit for all of the owner's due mail. */
  emailIds: Schema.optionalKey(EmailIds),
  /** Only this account's messages. */
  accountId: Schema.optionalKey(AccountId)
}

/**
 * `<owner>:ids:<sorted ids>` or `<owner>:<what>:<account or all>`. A list of ids makes a long key:
 * Jobs stores it as its digest (no hashing here: a contract loads no node:crypto).
 */
export const selectionKey = (
  what: string,
  payload: { readonly owner: string; readonly emailIds?: ReadonlyArray<string>; readonly accountId?: string }
): string => {
  if (payload.emailIds !== undefined) {
    return `${payload.owner}:ids:${[...payload.emailIds].sort().join(",")}`
  }
  return `${payload.owner}:${what}:${payload.accountId ?? "all"}`
}
