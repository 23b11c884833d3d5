import { type FormEvent, type JSX, useEffect, useState } from "react"
import type { UserView } from "../../../src/contract/users/UserViews.ts"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { ErrorMessage, Loading, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { adminStrings } from "./AdminPage.i18n.ts"

/** Where the Bull Board dashboard is mounted (src/ops/QueueDashboard.ts); a page of its own, not of this app. */
const queueDashboardPath = "/admin/queues/ui"

function Users(): JSX.Element {
  const t = useStrings(adminStrings)
  const language = useLanguage()
  const [users, setUsers] = useState<ReadonlyArray<UserView>>([])
  const [cursor, setCursor] = useState<string | null | undefined>(undefined)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  const load = async (after?: string) => {
    const result = await callApi("admin", (admin) =>
      admin.listUsers({ query: { limit: 50, ...(after === undefined ? {} : { cursor: after }) } })
    )
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setUsers((previous) => (after === undefined ? result.value.items : [...previous, ...result.value.items]))
    setCursor(result.value.nextCursor)
  }
  // biome-ignore lint/correctness/useExhaustiveDependencies: the first page once
  useEffect(() => {
    void load()
  }, [])

  const toggle = async (user: UserView) => {
    if (!user.disabled && !window.confirm(t("disableConfirm", { email: user.email }))) return
    const result = await callApi("admin", (admin) =>
      user.disabled ? admin.enableUser({ params: { id: user.id } }) : admin.disableUser({ params: { id: user.id } })
    )
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setUsers((previous) => previous.map((candidate) => (candidate.id === user.id ? result.value : candidate)))
  }

  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">{t("users")}</h2>
      {failure !== undefined ? <ErrorMessage failure={failure}>{t("failedAction")}</ErrorMessage> : null}
      {cursor === undefined && failure === undefined ? <Loading label={t("loading")} /> : null}
      <DataTable
        className="responsive"
        headings={[t("email"), t("role"), t("state"), t("created"), t("lastLogin"), { hidden: t("actions") }]}
      >
        {users.map((user) => (
          <tr key={user.id}>
            <td data-label={t("email")}>{user.email}</td>
            <td data-label={t("role")}>{user.role}</td>
            <td data-label={t("state")}>{user.disabled ? t("disabled") : t("enabled")}</td>
            <td data-label={t("created")}>{formatDateTime(language, user.createdAt)}</td>
            <td data-label={t("lastLogin")}>
              {user.lastLoginAt === null ? t("never") : formatDateTime(language, user.lastLoginAt)}
            </td>
            <td>
              <button
                type="button"
                className={user.disabled ? "secondary" : "danger"}
                aria-label={
                  user.disabled ? t("enableNamed", { email: user.email }) : t("disableNamed", { email: user.email })
                }
                onClick={() => void toggle(user)}
              >
                {user.disabled ? t("enable") : t("disable")}
              </button>
            </td>
          </tr>
        ))}
      </DataTable>
      {typeof cursor === "string" ? (
        <button type="button" className="secondary" onClick={() => void load(cursor)}>
          {t("moreUsers")}
        </button>
      ) : null}
    </section>
  )
}

function Invites(): JSX.Element {
  const t = useStrings(adminStrings)
  const language = useLanguage()
  const [email, setEmail] = useState("")
  const [days, setDays] = useState(7)
  const [created, setCreated] = useState<{ code: string; expiresAt: Date } | undefined>(undefined)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const invites = useApiQuery("admin", (admin) => admin.listInvites(), [])

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setFailure(undefined)
    const bound = email.trim()
    const result = await callApi("admin", (admin) =>
      admin.createInvite({ payload: { expiresInDays: days, ...(bound === "" ? {} : { email: bound }) } })
    )
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setCreated(result.value)
    invites.reload()
  }

  const revoke = async (id: string) => {
    const listed = invites.state.status === "ok" ? invites.state.value.items.find((item) => item.id === id) : undefined
    if (listed === undefined || !window.confirm(t("revokeInviteConfirm"))) return
    const result = await callApi("admin", (admin) => admin.revokeInvite({ params: { id: listed.id } }))
    setFailure(result.ok ? undefined : result.failure)
    invites.reload()
  }

  return (
    <section aria-labelledby="invites-title">
      <h2 id="invites-title">{t("invites")}</h2>
      <p className="hint">{t("invitesIntro")}</p>
      <form className="stack" onSubmit={(event) => void submit(event)}>
        <div className="field">
          <label htmlFor="invite-email">{t("inviteEmail")}</label>
          <input
            id="invite-email"
            type="email"
            value={email}
            onChange={(event) => setEmail(event.currentTarget.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="invite-days">{t("inviteDays")}</label>
          <input
            id="invite-days"
            type="number"
            min={1}
            max={365}
            required
            value={days}
            onChange={(event) => setDays(event.currentTarget.valueAsNumber)}
          />
        </div>
        {failure !== undefined ? <ErrorMessage failure={failure}>{t("failedAction")}</ErrorMessage> : null}
        <div className="actions">
          <button type="submit">{t("createInvite")}</button>
        </div>
      </form>
      {created !== undefined ? (
        <div className="notice" role="status">
          <p>{t("inviteCreated", { date: formatDateTime(language, created.expiresAt) })}</p>
          <p className="secret">{created.code}</p>
          <label htmlFor="invite-link">{t("inviteLink")}</label>
          <input
            id="invite-link"
            className="secret"
            readOnly
            value={`${window.location.origin}/register?invite=${encodeURIComponent(created.code)}`}
            onFocus={(event) => event.currentTarget.select()}
          />
        </div>
      ) : null}
      <h3>{t("inviteList")}</h3>
      <QueryProgress state={invites.state} loadingLabel={t("loading")} failedText={t("failedAction")} />
      {invites.state.status === "ok" && invites.state.value.items.length === 0 ? <p>{t("noInvites")}</p> : null}
      {invites.state.status === "ok" && invites.state.value.items.length > 0 ? (
        <DataTable
          className="responsive"
          headings={[t("inviteFor"), t("inviteState"), t("inviteExpires"), { hidden: t("revokeInvite") }]}
        >
          {invites.state.value.items.map((invite) => {
            const who = invite.email ?? t("anyone")
            return (
              <tr key={invite.id} data-invite-id={invite.id}>
                <td data-label={t("inviteFor")}>{who}</td>
                <td data-label={t("inviteState")}>{t(`state_${invite.state}`)}</td>
                <td data-label={t("inviteExpires")}>{formatDateTime(language, invite.expiresAt)}</td>
                <td>
                  {invite.state === "pending" ? (
                    <button
                      type="button"
                      className="danger"
                      aria-label={t("revokeInviteNamed", { who, date: formatDateTime(language, invite.createdAt) })}
                      onClick={() => void revoke(invite.id)}
                    >
                      {t("revokeInvite")}
                    </button>
                  ) : null}
                </td>
              </tr>
            )
          })}
        </DataTable>
      ) : null}
    </section>
  )
}

function Queues(): JSX.Element {
  const t = useStrings(adminStrings)
  const language = useLanguage()
  const overview = useApiQuery("queues", (queues) => queues.overview(), [])
  const columns = ["waiting", "active", "delayed", "failed", "completed", "workers"] as const
  return (
    <section aria-labelledby="queues-title">
      <h2 id="queues-title">{t("queues")}</h2>
      <p className="hint">{t("queuesIntro")}</p>
      <div className="actions">
        <a href={queueDashboardPath}>{t("dashboard")}</a>
        <button type="button" className="secondary" onClick={overview.reload}>
          {t("refresh")}
        </button>
      </div>
      <QueryProgress state={overview.state} loadingLabel={t("loading")} failedText={t("failedAction")} />
      {overview.state.status === "ok" ? (
        <DataTable className="responsive" headings={[t("queue"), ...columns.map((column) => t(column))]}>
          {overview.state.value.queues.map((queue) => (
            <tr key={queue.queue}>
              <td data-label={t("queue")}>
                <code>{queue.queue}</code>
              </td>
              {columns.map((column) => (
                <td key={column} data-label={t(column)}>
                  {formatNumber(language, queue[column])}
                </td>
              ))}
            </tr>
          ))}
        </DataTable>
      ) : null}
    </section>
  )
}

export function AdminPage(): JSX.Element {
  const t = useStrings(adminStrings)
  return (
    <>
      <h1>{t("title")}</h1>
      <Users />
      <Invites />
      <Queues />
    </>
  )
}
