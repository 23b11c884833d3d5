import { Effect } from "effect"
import { type JSX, useMemo, useState } from "react"
import { Link, useSearch } from "wouter"
import { useApiQuery } from "../api/useApiQuery.ts"
import { ArchiveStatus, useArchiveKey } from "../components/mail/ArchiveStatus.tsx"
import { CategoryOptions } from "../components/mail/CategoryOptions.tsx"
import { MessageList } from "../components/mail/MessageList.tsx"
import { CheckField, EmptyState, ErrorMessage, Loading } from "../components/ui.tsx"
import { formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { inboxStrings } from "./InboxPage.i18n.ts"
import {
  type InboxFilters,
  inboxQuery,
  keepByBand,
  noFilters,
  threadCounts,
  oneLinePerThread
} from "./mail/inboxFilters.ts"
import type { Band } from "./mail/types.ts"
import { useAccounts } from "./mail/accountList.ts"
import { useEmailPages } from "./mail/useEmailPages.ts"
import { useMailActivity } from "./mail/useMailActivity.ts"

const bands: ReadonlyArray<Band> = ["red", "yellow", "green"]

/** Mail ordered by priority (score, then newest), filtered, virtualised, refreshed while syncs run. */
export function InboxPage(): JSX.Element {
  const t = useStrings(inboxStrings)
  const language = useLanguage()
  const search = useSearch()
  const threadId = new URLSearchParams(search).get("thread")
  const [filters, setFilters] = useState<InboxFilters>(noFilters)
  const accounts = useAccounts()
  const mailboxes = useApiQuery(
    "accounts",
    (client) =>
      filters.accountId === ""
        ? Effect.succeed({ items: [] as const })
        : client.mailboxes({ params: { id: filters.accountId } }),
    [filters.accountId]
  )
  const accountItems = accounts.status === "ok" ? accounts.value.items : []
  const mailboxItems = mailboxes.state.status === "ok" ? mailboxes.state.value.items : []
  const query = useMemo(() => inboxQuery(filters, threadId), [filters, threadId])
  const pages = useEmailPages(query)
  useMailActivity(pages.refresh)
  const archiveKey = useArchiveKey()

  const visible = useMemo(() => {
    const byBand = keepByBand(pages.items, filters.band).filter((email) => !archiveKey.archivedIds.has(email.id))
    return filters.groupThreads && threadId === null ? oneLinePerThread(byBand) : byBand
  }, [pages.items, filters.band, filters.groupThreads, threadId, archiveKey.archivedIds])
  const counts = useMemo(
    () => (filters.groupThreads && threadId === null ? threadCounts(pages.items) : undefined),
    [pages.items, filters.groupThreads, threadId]
  )
  const set = <K extends keyof InboxFilters>(key: K, value: InboxFilters[K]) =>
    setFilters((before) => ({ ...before, [key]: value, ...(key === "accountId" ? { mailboxId: "" } : {}) }))

  if (accounts.status === "ok" && accounts.value.items.length === 0) {
    return (
      <>
        <h1>{t("title")}</h1>
        <EmptyState title={t("noAccountTitle")}>
          <p>{t("noAccountText")}</p>
          <Link href="/accounts">{t("connectAccount")}</Link>
        </EmptyState>
      </>
    )
  }
  const filtered = JSON.stringify(filters) !== JSON.stringify(noFilters) || threadId !== null

  return (
    <>
      <h1>{t("title")}</h1>
      <form className="filters" aria-label={t("filters")} onSubmit={(event) => event.preventDefault()}>
        <label>
          {t("account")}
          <select
            value={filters.accountId}
            onChange={(event) => {
              const chosen = event.currentTarget.value
              const account = accountItems.find((candidate) => candidate.id === chosen)
              set("accountId", account?.id ?? "")
            }}
          >
            <option value="">{t("allAccounts")}</option>
            {accountItems.map((account) => (
              <option key={account.id} value={account.id}>
                {account.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("folder")}
          <select
            value={filters.mailboxId}
            disabled={filters.accountId === ""}
            title={filters.accountId === "" ? t("folderNeedsAccount") : undefined}
            onChange={(event) => {
              const chosen = event.currentTarget.value
              const mailbox = mailboxItems.find((candidate) => candidate.id === chosen)
              set("mailboxId", mailbox?.id ?? "")
            }}
          >
            <option value="">{t("allFolders")}</option>
            {mailboxItems
              .filter((mailbox) => mailbox.selectable)
              .map((mailbox) => (
                <option key={mailbox.id} value={mailbox.id}>
                  {mailbox.path}
                </option>
              ))}
          </select>
        </label>
        <label>
          {t("category")}
          <select value={filters.category} onChange={(event) => set("category", event.currentTarget.value)}>
            <option value="">{t("allCategories")}</option>
            <CategoryOptions />
          </select>
        </label>
        <label>
          {t("colour")}
          <select
            value={filters.band}
            onChange={(event) => set("band", bands.find((band) => band === event.currentTarget.value) ?? "")}
          >
            <option value="">{t("allColours")}</option>
            {bands.map((band) => (
              <option key={band} value={band}>
                {t(band)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t("dateFrom")}
          <input
            type="date"
            value={filters.dateFrom}
            onChange={(event) => set("dateFrom", event.currentTarget.value)}
          />
        </label>
        <label>
          {t("dateTo")}
          <input type="date" value={filters.dateTo} onChange={(event) => set("dateTo", event.currentTarget.value)} />
        </label>
        <CheckField checked={filters.unread} onChange={(checked) => set("unread", checked)}>
          {t("unreadOnly")}
        </CheckField>
        <CheckField checked={filters.groupThreads} onChange={(checked) => set("groupThreads", checked)}>
          {t("groupThreads")}
        </CheckField>
        {filtered ? (
          <button type="button" className="secondary" onClick={() => setFilters(noFilters)}>
            {t("clearFilters")}
          </button>
        ) : null}
      </form>
      {threadId === null ? null : (
        <p className="notice">
          {t("conversation")} <Link href="/">{t("showAll")}</Link>
        </p>
      )}
      <p className="hint" aria-live="polite">
        {t("count", { count: formatNumber(language, pages.items.length) })} · {t("live")}
      </p>
      <ArchiveStatus note={archiveKey.note} />
      {pages.failure === null ? null : <ErrorMessage failure={pages.failure}>{t("failed")}</ErrorMessage>}
      {pages.loading && pages.items.length === 0 ? (
        <Loading label={t("loading")} />
      ) : visible.length === 0 && !pages.hasMore && pages.failure === null ? (
        <EmptyState title={t("emptyTitle")}>
          <p>{filtered ? t("emptyText") : t("emptyUnfiltered")}</p>
          {filtered ? (
            <button type="button" onClick={() => setFilters(noFilters)}>
              {t("clearFilters")}
            </button>
          ) : (
            <Link href="/accounts">{t("goAccounts")}</Link>
          )}
        </EmptyState>
      ) : (
        <MessageList
          items={visible}
          hasMore={pages.hasMore}
          loading={pages.loading}
          onEndReached={pages.loadMore}
          threadCounts={counts}
          label={t("title")}
          onArchive={archiveKey.anyArchive ? (email) => void archiveKey.request(email) : undefined}
        />
      )}
    </>
  )
}
