import { type JSX, useState } from "react"
import { Link } from "wouter"
import { useApiQuery } from "../api/useApiQuery.ts"
import { EmptyState, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, useLanguage, useStrings } from "../i18n/index.ts"
import { AccountForm, type AccountView, SyncNow } from "./accountParts.tsx"
import { accountsStrings } from "./AccountsPage.i18n.ts"

export const statusKey = (status: AccountView["status"]) => `status_${status}` as const

export function AccountsPage(): JSX.Element {
  const t = useStrings(accountsStrings)
  const language = useLanguage()
  const accounts = useApiQuery((client) => client.accounts.list(), [])
  const [connected, setConnected] = useState<AccountView | undefined>(undefined)

  return (
    <>
      <h1>{t("title")}</h1>
      <QueryProgress state={accounts.state} loadingLabel={t("loading")} failedText={t("failed")} />
      {connected !== undefined ? (
        <p className="notice" role="status">
          {t("connected", { label: connected.label })}
        </p>
      ) : null}
      {accounts.state.status === "ok" && accounts.state.value.items.length === 0 ? (
        <EmptyState title={t("empty")}>
          <p>{t("emptyHint")}</p>
        </EmptyState>
      ) : null}
      {accounts.state.status === "ok" && accounts.state.value.items.length > 0 ? (
        <DataTable className="responsive" headings={[t("account"), t("status"), t("lastSynced"), t("sync")]}>
          {accounts.state.value.items.map((account) => (
            <tr key={account.id}>
              <td data-label={t("account")}>
                <Link href={`/accounts/${account.id}`} aria-label={t("detailsNamed", { label: account.label })}>
                  {account.label}
                </Link>
                <div className="hint">
                  {account.username} @ {account.host}:{account.port}
                </div>
              </td>
              <td data-label={t("status")}>
                <span className={`badge account-${account.status}`}>{t(statusKey(account.status))}</span>
                {account.statusMessage !== null ? <p className="server-answer">{account.statusMessage}</p> : null}
              </td>
              <td data-label={t("lastSynced")}>
                {account.lastSyncedAt === null ? t("never") : formatDateTime(language, account.lastSyncedAt)}
              </td>
              <td data-label={t("sync")}>
                <SyncNow account={account} onFinished={accounts.reload} />
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <section aria-labelledby="connect-title">
        <h2 id="connect-title">{t("connectTitle")}</h2>
        <AccountForm
          key={connected?.id ?? "new"}
          onSaved={(account) => {
            setConnected(account)
            accounts.reload()
          }}
        />
      </section>
    </>
  )
}
