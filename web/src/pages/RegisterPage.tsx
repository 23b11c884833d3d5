import { type FormEvent, type JSX, useEffect, useRef, useState } from "react"
import { Link, useLocation, useSearch } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { ErrorMessage } from "../components/ui.tsx"
import { useStrings } from "../i18n/index.ts"
import { useSession } from "../session.tsx"
import { registerStrings } from "./RegisterPage.i18n.ts"

/** Registers, then signs in with the same credentials and opens the accounts page to connect mail. */
export function RegisterPage(): JSX.Element {
  const t = useStrings(registerStrings)
  const { session, refresh } = useSession()
  const [, navigate] = useLocation()
  const search = useSearch()
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  // an invite link may carry the code: /register?invite=...
  const [inviteCode, setInviteCode] = useState(() => new URLSearchParams(search).get("invite") ?? "")
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const inviteRef = useRef<HTMLInputElement>(null)
  const signedIn = session.status === "signed-in"
  useEffect(() => {
    if (signedIn) navigate("/accounts", { replace: true })
  }, [signedIn, navigate])

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const code = inviteCode.trim()
    const registered = await callApi((client) =>
      client.auth.register({ payload: { email, password, ...(code === "" ? {} : { inviteCode: code }) } })
    )
    if (!registered.ok) {
      setBusy(false)
      setFailure(registered.failure)
      if (registered.failure.tag === "RegistrationClosed") inviteRef.current?.focus()
      return
    }
    const signedInNow = await callApi((client) => client.auth.login({ payload: { email, password } }))
    setBusy(false)
    if (!signedInNow.ok) {
      setFailure(signedInNow.failure)
      return
    }
    await refresh()
  }

  return (
    <section className="stack">
      <h1>{t("title")}</h1>
      <form className="stack" onSubmit={(event) => void submit(event)}>
        <div className="field">
          <label htmlFor="register-email">{t("email")}</label>
          <input
            id="register-email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.currentTarget.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="register-password">{t("password")}</label>
          <input
            id="register-password"
            type="password"
            autoComplete="new-password"
            required
            aria-describedby="register-password-hint"
            value={password}
            onChange={(event) => setPassword(event.currentTarget.value)}
          />
          <p className="hint" id="register-password-hint">
            {t("passwordHint")}
          </p>
        </div>
        <div className="field">
          <label htmlFor="register-invite">{t("inviteCode")}</label>
          <input
            id="register-invite"
            ref={inviteRef}
            autoComplete="off"
            aria-describedby="register-invite-hint"
            value={inviteCode}
            onChange={(event) => setInviteCode(event.currentTarget.value)}
          />
          <p className="hint" id="register-invite-hint">
            {t("inviteHint")}
          </p>
        </div>
        {failure !== undefined ? (
          <ErrorMessage failure={failure}>
            {t("failed")}
            {/* the CSRF rule refuses a sign-in from an address missing in PUBLIC_ORIGIN (403) */}
            {failure.tag === "Forbidden" ? <p>{t("wrongOrigin", { origin: window.location.origin })}</p> : null}
          </ErrorMessage>
        ) : null}
        <div className="actions">
          <button type="submit" disabled={busy}>
            {busy ? t("submitting") : t("submit")}
          </button>
        </div>
      </form>
      <p>
        {t("haveAccount")} <Link href="/sign-in">{t("signIn")}</Link>
      </p>
    </section>
  )
}
