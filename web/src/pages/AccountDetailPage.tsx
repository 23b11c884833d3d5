import { Effect, Option, Schema } from "effect"
import { type JSX, useState } from "react"
import { Link, useLocation, useParams } from "wouter"
import { AccountId } from "../../../src/contract/accounts/Account.ts"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { EmptyState, ErrorMessage, Loading, DataTable } from "../components/ui.tsx"
import { formatDateTime, formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { AccountForm, type AccountView, SyncNow } from "./accountParts.tsx"
import { accountDetailStrings } from "./AccountDetailPage.i18n.ts"

const decodeAccountId = Schema.decodeUnknownOption(AccountId)

function AccountDetail({ id }: { readonly id: AccountId }): JSX.Element {
  const t = useStrings(accountDetailStrings)
  const language = useLanguage()
  const [, navigate] = useLocation()
  // the account and its folders in one load, so a sync's end refreshes both
  const loaded = useApiQuery(
    "accounts",
    (accounts) =>
      Effect.all({
        account: accounts.get({ params: { id } }),
        mailboxes: accounts.mailboxes({ params: { id } })
      }),
    [id]
  )
  const [saved, setSaved] = useState<AccountView | undefined>(undefined)
  const [removing, setRemoving] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  if (loaded.state.status === "loading") return <Loading label={t("loading")} />
  if (loaded.state.status === "error") {
    return loaded.state.failure.tag === "AccountNotFound" ? (
      <EmptyState title={t("notFound")}>
        <p>
          <Link href="/accounts">{t("notFoundHint")}</Link>
        </p>
      </EmptyState>
    ) : (
      <ErrorMessage failure={loaded.state.failure}>{t("failed")}</ErrorMessage>
    )
  }
  const account = saved ?? loaded.state.value.account
  const mailboxes = loaded.state.value.mailboxes.items

  const remove = async () => {
    if (!window.confirm(t("removeConfirm", { label: account.label }))) return
    setRemoving(true)
    const result = await callApi("accounts", (accounts) => accounts.remove({ params: { id } }))
    setRemoving(false)
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    navigate("/accounts")
  }

  return (
    <>
      <p>
        <Link href="/accounts">← {t("back")}</Link>
      </p>
      <h1>{account.label}</h1>
      <p className="hint">
        {account.username} @ {account.host}:{account.port} ({account.security})
      </p>
      <dl className="facts">
        <dt>{t("state")}</dt>
        <dd>
          <span className={`badge account-${account.status}`}>{t(`status_${account.status}`)}</span>
          {account.statusMessage !== null ? <p className="server-answer">{account.statusMessage}</p> : null}
        </dd>
        <dt>{t("lastSynced")}</dt>
        <dd>{account.lastSyncedAt === null ? t("never") : formatDateTime(language, account.lastSyncedAt)}</dd>
      </dl>
      <SyncNow
        account={account}
        onFinished={() => {
          setSaved(undefined)
          loaded.reload()
        }}
      />

      <section aria-labelledby="server-title">
        <h2 id="server-title">{t("server")}</h2>
        {account.server === null ? (
          <p className="hint">{t("serverUnknown")}</p>
        ) : (
          <>
            <p>
              {t("product")}: {account.server.product ?? t("productUnknown")}
            </p>
            <h3>{t("strategy")}</h3>
            <ul className="strategy">
              {(["listing", "flags", "expunges", "names", "specialUse", "ruleMoves"] as const).map((key) => (
                <li key={key}>{account.server?.explanation[key]}</li>
              ))}
            </ul>
            <details>
              <summary>{t("capabilities", { count: account.server.capabilities.length })}</summary>
              <p className="server-answer">{account.server.capabilities.join(" ")}</p>
            </details>
          </>
        )}
      </section>

      <section aria-labelledby="mailboxes-title">
        <h2 id="mailboxes-title">{t("mailboxes")}</h2>
        {mailboxes.length === 0 ? (
          <p className="hint">{t("noMailboxes")}</p>
        ) : (
          <DataTable className="responsive" headings={[t("mailbox"), t("messages"), t("unread")]}>
            {mailboxes.map((mailbox) => (
              <tr key={mailbox.id}>
                <td data-label={t("mailbox")}>{mailbox.path}</td>
                <td data-label={t("messages")}>{formatNumber(language, mailbox.messageCount)}</td>
                <td data-label={t("unread")}>{formatNumber(language, mailbox.unreadCount)}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section aria-labelledby="edit-title">
        <h2 id="edit-title">{t("edit")}</h2>
        {saved !== undefined ? (
          <p className="notice" role="status">
            {t("saved")}
          </p>
        ) : null}
        <AccountForm key={account.updatedAt.toISOString()} account={account} onSaved={setSaved} />
      </section>

      <section aria-labelledby="remove-title">
        <h2 id="remove-title">{t("remove")}</h2>
        <p className="hint">{t("removeHint")}</p>
        {failure !== undefined ? <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage> : null}
        <button type="button" className="danger" disabled={removing} onClick={() => void remove()}>
          {removing ? t("removing") : t("remove")}
        </button>
      </section>
    </>
  )
}

export function AccountDetailPage(): JSX.Element {
  const t = useStrings(accountDetailStrings)
  const params = useParams<{ id: string }>()
  const id = decodeAccountId(params.id)
  if (Option.isNone(id)) {
    return (
      <EmptyState title={t("notFound")}>
        <p>
          <Link href="/accounts">{t("notFoundHint")}</Link>
        </p>
      </EmptyState>
    )
  }
  return <AccountDetail id={id.value} />
}
