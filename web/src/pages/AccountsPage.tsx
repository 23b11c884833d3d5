import { type JSX, useState } from "react"
import { Link, useSearch } from "wouter"
import { callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { EmptyState, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, useLanguage, useStrings } from "../i18n/index.ts"
import { AccountForm, type AccountView, SyncNow } from "./accountParts.tsx"
import { accountsStrings } from "./AccountsPage.i18n.ts"

export const statusKey = (status: AccountView["status"]) => `status_${status}` as const

const oauthOutcomes = [
  "connected",
  "reconnected",
  "denied",
  "invalid_state",
  "exchange_failed",
  "no_address",
  "no_refresh_token",
  "imap_refused",
  "account_exists",
  "unavailable"
] as const
type OAuthOutcome = (typeof oauthOutcomes)[number]
const isOutcome = (value: string | null): value is OAuthOutcome => oauthOutcomes.some((outcome) => outcome === value)

/** Starts the provider's sign-in: the browser leaves for the provider and comes back to `/accounts?oauth=...`. */
function OAuthButton({ provider, label }: { readonly provider: string; readonly label: string }): JSX.Element {
  const t = useStrings(accountsStrings)
  const [busy, setBusy] = useState(false)
  const [failed, setFailed] = useState(false)
  const start = async () => {
    setBusy(true)
    setFailed(false)
    const result = await callApi("oauth", (oauth) => oauth.start({ params: { provider } }))
    if (!result.ok) {
      setBusy(false)
      setFailed(true)
      return
    }
    window.location.assign(result.value.authorizationUrl)
  }
  return (
    <>
      <button type="button" disabled={busy} onClick={() => void start()}>
        {label}
      </button>
      {failed ? <p role="alert">{t("oauthStartFailed")}</p> : null}
    </>
  )
}

export function AccountsPage(): JSX.Element {
  const t = useStrings(accountsStrings)
  const language = useLanguage()
  const accounts = useApiQuery("accounts", (accounts) => accounts.list(), [])
  const [connected, setConnected] = useState<AccountView | undefined>(undefined)
  const providers = useApiQuery("oauth", (oauth) => oauth.providers(), [])
  const returned = new URLSearchParams(useSearch()).get("oauth")

  return (
    <>
      <h1>{t("title")}</h1>
      <QueryProgress state={accounts.state} loadingLabel={t("loading")} failedText={t("failed")} />
      {connected !== undefined ? (
        <p className="notice" role="status">
          {t("connected", { label: connected.label })}
        </p>
      ) : null}
      {isOutcome(returned) ? (
        <p className="notice" role="status">
          {t(`oauth_${returned}`)}
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
                {account.status === "reauth_required" && account.oauthProvider !== null ? (
                  <OAuthButton provider={account.oauthProvider} label={t("oauthReconnect")} />
                ) : null}
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
      {providers.state.status === "ok" && providers.state.value.items.length > 0 ? (
        <section aria-labelledby="oauth-title">
          <h2 id="oauth-title">{t("oauthTitle")}</h2>
          <p className="hint">{t("oauthHint")}</p>
          {providers.state.value.items.map((provider) => (
            <OAuthButton
              key={provider.name}
              provider={provider.name}
              label={t("oauthConnect", { label: provider.label })}
            />
          ))}
        </section>
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
