import { type FormEvent, type JSX, useEffect, useState } from "react"
import { Link, useLocation, useSearch } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { ErrorMessage } from "../components/ui.tsx"
import { useStrings } from "../i18n/index.ts"
import { useSession } from "../session.tsx"
import { signInStrings } from "./SignInPage.i18n.ts"

/** Where to go after signing in: only a path of this app (`/x`), never `//other.site` or a URL. */
export const safeNext = (search: string): string => {
  const next = new URLSearchParams(search).get("next")
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/"
}

export function SignInPage(): JSX.Element {
  const t = useStrings(signInStrings)
  const { session, refresh } = useSession()
  const [, navigate] = useLocation()
  const search = useSearch()
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const signedIn = session.status === "signed-in"
  useEffect(() => {
    if (signedIn) navigate(safeNext(search), { replace: true })
  }, [signedIn, navigate, search])

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const result = await callApi((client) => client.auth.login({ payload: { email, password } }))
    setBusy(false)
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    await refresh()
  }

  return (
    <section className="stack">
      <h1>{t("title")}</h1>
      <form className="stack" onSubmit={(event) => void submit(event)} aria-describedby="sign-in-error">
        <div className="field">
          <label htmlFor="sign-in-email">{t("email")}</label>
          <input
            id="sign-in-email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.currentTarget.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="sign-in-password">{t("password")}</label>
          <input
            id="sign-in-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.currentTarget.value)}
          />
        </div>
        <div id="sign-in-error">
          {failure !== undefined ? (
            <ErrorMessage failure={failure}>
              {t("failed")}
              {/* the CSRF rule refuses a sign-in from an address missing in PUBLIC_ORIGIN (403) */}
              {failure.tag === "Forbidden" ? <p>{t("wrongOrigin", { origin: window.location.origin })}</p> : null}
            </ErrorMessage>
          ) : null}
        </div>
        <div className="actions">
          <button type="submit" disabled={busy}>
            {busy ? t("submitting") : t("submit")}
          </button>
        </div>
      </form>
      <p>
        {t("noAccount")} <Link href="/register">{t("register")}</Link>
      </p>
    </section>
  )
}
