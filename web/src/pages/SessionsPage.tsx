import { type FormEvent, type JSX, useState } from "react"
import { useLocation } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { EmptyState, ErrorMessage, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, useLanguage, useStrings } from "../i18n/index.ts"
import { useSession } from "../session.tsx"
import { sessionsStrings } from "./SessionsPage.i18n.ts"

type Scope = "read" | "write" | "admin"

function CreateToken({ isAdmin, onCreated }: { readonly isAdmin: boolean; readonly onCreated: () => void }) {
  const t = useStrings(sessionsStrings)
  const [name, setName] = useState("")
  const [scopes, setScopes] = useState<ReadonlySet<Scope>>(new Set(["read"]))
  const [days, setDays] = useState(90)
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const [secret, setSecret] = useState<string | undefined>(undefined)
  const offered: ReadonlyArray<Scope> = isAdmin ? ["read", "write", "admin"] : ["read", "write"]
  const scopeLabel = { read: t("scopeRead"), write: t("scopeWrite"), admin: t("scopeAdmin") } as const

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const chosen = offered.filter((scope) => scopes.has(scope))
    const result = await callApi("auth", (auth) =>
      auth.createToken({ payload: { name, scopes: chosen, expiresInDays: days } })
    )
    setBusy(false)
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setSecret(result.value.token)
    setName("")
    onCreated()
  }

  return (
    <form className="stack" onSubmit={(event) => void submit(event)}>
      <h3>{t("createTitle")}</h3>
      <div className="field">
        <label htmlFor="token-name">{t("name")}</label>
        <input
          id="token-name"
          required
          maxLength={100}
          value={name}
          onChange={(event) => setName(event.currentTarget.value)}
        />
      </div>
      <fieldset>
        <legend>{t("scopes")}</legend>
        {offered.map((scope) => (
          <label key={scope} className="check">
            <input
              type="checkbox"
              checked={scopes.has(scope)}
              onChange={(event) => {
                const next = new Set(scopes)
                if (event.currentTarget.checked) next.add(scope)
                else next.delete(scope)
                setScopes(next)
              }}
            />{" "}
            {scopeLabel[scope]}
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor="token-days">{t("expiresInDays")}</label>
        <input
          id="token-days"
          type="number"
          min={1}
          max={365}
          required
          value={days}
          onChange={(event) => setDays(event.currentTarget.valueAsNumber)}
        />
      </div>
      {failure !== undefined ? <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage> : null}
      {secret !== undefined ? (
        <div className="notice" role="status">
          <p>{t("createdSecret")}</p>
          <label htmlFor="token-secret">{t("newToken")}</label>
          <input
            id="token-secret"
            className="secret"
            readOnly
            value={secret}
            onFocus={(e) => e.currentTarget.select()}
          />
        </div>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={busy || scopes.size === 0}>
          {busy ? t("creating") : t("create")}
        </button>
      </div>
    </form>
  )
}

/** A short name for a User-Agent: the browser and the system, as far as the string says. */
export const browserName = (userAgent: string | null): string | null => {
  if (userAgent === null) return null
  const browser =
    /\b(Edg|Firefox|Chrome|Chromium|Safari|curl|HeadlessChrome)\/[\d.]+/
      .exec(userAgent)?.[0]
      ?.replace("Edg/", "Edge/") ?? userAgent.slice(0, 40)
  const system = /\((?:[^;)]*; )?([^;)]+)/.exec(userAgent)?.[1]
  return system === undefined ? browser : `${browser} (${system})`
}

function BrowserSessions(): JSX.Element {
  const t = useStrings(sessionsStrings)
  const language = useLanguage()
  const sessions = useApiQuery("auth", (auth) => auth.listSessions(), [])
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  const end = async (id: string) => {
    const listed =
      sessions.state.status === "ok" ? sessions.state.value.items.find((item) => item.id === id) : undefined
    if (listed === undefined || !window.confirm(t("endSessionConfirm"))) return
    const result = await callApi("auth", (auth) => auth.revokeSession({ params: { id: listed.id } }))
    setFailure(result.ok ? undefined : result.failure)
    sessions.reload()
  }

  return (
    <section aria-labelledby="browser-sessions">
      <h2 id="browser-sessions">{t("sessions")}</h2>
      <p className="hint">{t("sessionsIntro")}</p>
      {failure !== undefined ? <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage> : null}
      <QueryProgress state={sessions.state} loadingLabel={t("loading")} failedText={t("failed")} />
      {sessions.state.status === "ok" && sessions.state.value.items.length > 0 ? (
        <DataTable
          className="responsive"
          headings={[t("browser"), t("signedIn"), t("lastActive"), t("expires"), { hidden: t("endSession") }]}
        >
          {sessions.state.value.items.map((item) => {
            const browser = browserName(item.userAgent) ?? t("unknownBrowser")
            return (
              <tr key={item.id} data-session-id={item.id}>
                <td data-label={t("browser")}>
                  {browser}
                  {item.current ? <span className="badge">{t("current")}</span> : null}
                </td>
                <td data-label={t("signedIn")}>{formatDateTime(language, item.signedInAt)}</td>
                <td data-label={t("lastActive")}>{formatDateTime(language, item.lastUsedAt)}</td>
                <td data-label={t("expires")}>{formatDateTime(language, item.expiresAt)}</td>
                <td>
                  {item.current ? null : (
                    <button
                      type="button"
                      className="danger"
                      aria-label={t("endSessionNamed", {
                        browser,
                        date: formatDateTime(language, item.signedInAt)
                      })}
                      onClick={() => void end(item.id)}
                    >
                      {t("endSession")}
                    </button>
                  )}
                </td>
              </tr>
            )
          })}
        </DataTable>
      ) : null}
    </section>
  )
}

export function SessionsPage(): JSX.Element {
  const t = useStrings(sessionsStrings)
  const language = useLanguage()
  const { session, refresh } = useSession()
  const [, navigate] = useLocation()
  const tokens = useApiQuery("auth", (auth) => auth.listTokens(), [])
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const me = session.status === "signed-in" ? session.me : undefined

  const signOut = async () => {
    await callApi("auth", (auth) => auth.logout())
    await refresh()
    navigate("/sign-in")
  }

  const revoke = async (id: string, name: string) => {
    const token = tokens.state.status === "ok" ? tokens.state.value.items.find((item) => item.id === id) : undefined
    if (token === undefined || !window.confirm(t("revokeConfirm", { name }))) return
    const result = await callApi("auth", (auth) => auth.revokeToken({ params: { id: token.id } }))
    if (!result.ok) setFailure(result.failure)
    tokens.reload()
  }

  return (
    <>
      <h1>{t("title")}</h1>
      <section aria-labelledby="this-session">
        <h2 id="this-session">{t("thisSession")}</h2>
        {me !== undefined ? <p>{t("signedInAs", { email: me.email, role: me.role })}</p> : null}
        <p className="hint">{t("sessionNote")}</p>
        <button type="button" className="secondary" onClick={() => void signOut()}>
          {t("signOut")}
        </button>
      </section>
      <BrowserSessions />
      <section aria-labelledby="tokens">
        <h2 id="tokens">{t("tokens")}</h2>
        <p className="hint">{t("tokensIntro")}</p>
        {failure !== undefined ? <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage> : null}
        <QueryProgress state={tokens.state} loadingLabel={t("loading")} failedText={t("failed")} />
        {tokens.state.status === "ok" && tokens.state.value.items.length === 0 ? (
          <EmptyState title={t("noTokens")}>
            <p>{t("noTokensHint")}</p>
          </EmptyState>
        ) : null}
        {tokens.state.status === "ok" && tokens.state.value.items.length > 0 ? (
          <DataTable
            className="responsive"
            headings={[
              t("name"),
              t("prefix"),
              t("scopes"),
              t("created"),
              t("expires"),
              t("lastUsed"),
              { hidden: t("revoke") }
            ]}
          >
            {tokens.state.value.items.map((token) => (
              <tr key={token.id}>
                <td data-label={t("name")}>{token.name}</td>
                <td data-label={t("prefix")}>
                  <code>{token.prefix}…</code>
                </td>
                <td data-label={t("scopes")}>{token.scopes.join(", ")}</td>
                <td data-label={t("created")}>{formatDateTime(language, token.createdAt)}</td>
                <td data-label={t("expires")}>{formatDateTime(language, token.expiresAt)}</td>
                <td data-label={t("lastUsed")}>
                  {token.lastUsedAt === null ? t("never") : formatDateTime(language, token.lastUsedAt)}
                </td>
                <td>
                  <button
                    type="button"
                    className="danger"
                    aria-label={t("revokeNamed", { name: token.name })}
                    onClick={() => void revoke(token.id, token.name)}
                  >
                    {t("revoke")}
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        ) : null}
        <CreateToken isAdmin={me?.role === "admin"} onCreated={tokens.reload} />
      </section>
    </>
  )
}
