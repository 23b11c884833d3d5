import { type FormEvent, type JSX, useState } from "react"
import { Link, useSearch } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { AuthFailure, AuthField, AuthSubmit, useLeaveOnceSignedIn } from "../components/authForm.tsx"
import { useStrings } from "../i18n/index.ts"
import { signInStrings } from "./SignInPage.i18n.ts"

/** Where to go after signing in: only a path of this app (`/x`), never `//other.site` or a URL. */
export const safeNext = (search: string): string => {
  const next = new URLSearchParams(search).get("next")
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/"
}

export function SignInPage(): JSX.Element {
  const t = useStrings(signInStrings)
  const search = useSearch()
  const { refresh } = useLeaveOnceSignedIn(safeNext(search))
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const result = await callApi("auth", (auth) => auth.login({ payload: { email, password } }))
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
        <AuthField
          id="sign-in-email"
          label={t("email")}
          type="email"
          autoComplete="username"
          required
          value={email}
          onValue={setEmail}
        />
        <AuthField
          id="sign-in-password"
          label={t("password")}
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onValue={setPassword}
        />
        <div id="sign-in-error">
          {failure !== undefined ? (
            <AuthFailure
              failure={failure}
              failedText={t("failed")}
              wrongOriginText={t("wrongOrigin", { origin: window.location.origin })}
            />
          ) : null}
        </div>
        <AuthSubmit busy={busy} label={t("submit")} busyLabel={t("submitting")} />
      </form>
      <p>
        {t("noAccount")} <Link href="/register">{t("register")}</Link>
      </p>
    </section>
  )
}
