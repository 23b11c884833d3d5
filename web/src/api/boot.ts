import type { EmailPage, EmailListQuery } from "../pages/mail/types.ts"
import { type ApiResult, callApi } from "./client.ts"

/**
 * Calls the first screen needs, started by main.tsx before React renders, so the session check, the
 * page's chunk and the page's first data load at the same time instead of one after the other. A
 * prefetched answer is taken once (by the hook that would have asked for it); a failed one is not
 * used (the hook asks again and shows its own error).
 */

type Query = NonNullable<EmailListQuery>

const emailPages = new Map<string, Promise<ApiResult<EmailPage>>>()

/** Starts `GET /emails` for this exact query (a page of the inbox, as useEmailPages will ask for it). */
export const prefetchEmailPage = (query: Query): void => {
  const key = JSON.stringify(query)
  if (!emailPages.has(key))
    emailPages.set(
      key,
      callApi("emails", (emails) => emails.list({ query }))
    )
}

/** The prefetched answer for this query, once; undefined when none was started. */
export const takeEmailPage = (query: Query): Promise<ApiResult<EmailPage>> | undefined => {
  const key = JSON.stringify(query)
  const found = emailPages.get(key)
  emailPages.delete(key)
  return found
}
