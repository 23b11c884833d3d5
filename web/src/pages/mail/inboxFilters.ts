/**
 * The inbox's filters and how they become a `GET /emails` query. The API filters by account, folder,
 * category, unread, dates and a minimum score; a colour is a score range (red 8-9, yellow 5-7, green
 * 3-4), so the query asks for its lower bound and the list drops what is above it.
 */
import type { AccountId, Band, EmailListQuery, EmailSummary, MailboxId } from "./types.ts"
import { categoryNames } from "./categories.ts"

export interface InboxFilters {
  readonly accountId: AccountId | ""
  readonly mailboxId: MailboxId | ""
  readonly category: string
  readonly band: Band | ""
  readonly unread: boolean
  /** yyyy-mm-dd from a date input, "" for none. */
  readonly dateFrom: string
  readonly dateTo: string
  readonly groupThreads: boolean
}

export const noFilters: InboxFilters = {
  accountId: "",
  mailboxId: "",
  category: "",
  band: "",
  unread: false,
  dateFrom: "",
  dateTo: "",
  groupThreads: false
}

const minScoreOf: Readonly<Record<Band, number>> = { red: 8, yellow: 5, green: 3 }

/** A date input's day as the local day's first or last instant. */
const dayBound = (day: string, end: boolean): Date | null => {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day)
  if (match === null) return null
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  if (end) date.setHours(23, 59, 59, 999)
  return Number.isNaN(date.getTime()) ? null : date
}

export const inboxQuery = (filters: InboxFilters, threadId: string | null): NonNullable<EmailListQuery> => {
  const category = categoryNames.find((name) => name === filters.category)
  const dateFrom = dayBound(filters.dateFrom, false)
  const dateTo = dayBound(filters.dateTo, true)
  return {
    sort: "score",
    ...(filters.accountId === "" ? {} : { accountId: filters.accountId }),
    ...(filters.mailboxId === "" ? {} : { mailboxId: filters.mailboxId }),
    ...(category === undefined ? {} : { category }),
    ...(filters.band === "" ? {} : { minScore: minScoreOf[filters.band] }),
    ...(filters.unread ? { unread: "true" } : {}),
    ...(dateFrom === null ? {} : { dateFrom }),
    ...(dateTo === null ? {} : { dateTo }),
    ...(threadId === null ? {} : { threadId })
  }
}

export const keepByBand = (items: ReadonlyArray<EmailSummary>, band: Band | ""): ReadonlyArray<EmailSummary> =>
  band === "" ? items : items.filter((email) => email.band === band)

/** The first (highest-priority) loaded message of each conversation. */
export const oneLinePerThread = (items: ReadonlyArray<EmailSummary>): ReadonlyArray<EmailSummary> => {
  const seen = new Set<string>()
  return items.filter((email) => {
    if (seen.has(email.threadId)) return false
    seen.add(email.threadId)
    return true
  })
}

export const threadCounts = (items: ReadonlyArray<EmailSummary>): ReadonlyMap<string, number> => {
  const counts = new Map<string, number>()
  for (const email of items) counts.set(email.threadId, (counts.get(email.threadId) ?? 0) + 1)
  return counts
}
