import { type FormEvent, type JSX, useRef, useState } from "react"
import { Link, useSearch } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { AuthFailure, AuthField, AuthSubmit, useLeaveOnceSignedIn } from "../components/authForm.tsx"
import { useStrings } from "../i18n/index.ts"
import { registerStrings } from "./RegisterPage.i18n.ts"

/** Registers, then signs in with the same credentials and opens the accounts page to connect mail. */
export function RegisterPage(): JSX.Element {
  const t = useStrings(registerStrings)
  const { refresh } = useLeaveOnceSignedIn("/accounts")
  const search = useSearch()
  const [email, setEmail] = useState("")
  const [password, setPassword] = useState("")
  // an invite link may carry the code: /register?invite=...
  const [inviteCode, setInviteCode] = useState(() => new URLSearchParams(search).get("invite") ?? "")
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const inviteRef = useRef<HTMLInputElement>(null)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const code = inviteCode.trim()
    const registered = await callApi("auth", (auth) =>
      auth.register({ payload: { email, password, ...(code === "" ? {} : { inviteCode: code }) } })
    )
    if (!registered.ok) {
      setBusy(false)
      setFailure(registered.failure)
      if (registered.failure.tag === "RegistrationClosed") inviteRef.current?.focus()
      return
    }
    const signedInNow = await callApi("auth", (auth) => auth.login({ payload: { email, password } }))
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
        <AuthField
          id="register-email"
          label={t("email")}
          type="email"
          autoComplete="username"
          required
          value={email}
          onValue={setEmail}
        />
        <AuthField
          id="register-password"
          label={t("password")}
          hint={t("passwordHint")}
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onValue={setPassword}
        />
        <AuthField
          id="register-invite"
          label={t("inviteCode")}
          hint={t("inviteHint")}
          autoComplete="off"
          inputRef={inviteRef}
          value={inviteCode}
          onValue={setInviteCode}
        />
        {failure !== undefined ? (
          <AuthFailure
            failure={failure}
            failedText={t("failed")}
            wrongOriginText={t("wrongOrigin", { origin: window.location.origin })}
          />
        ) : null}
        <AuthSubmit busy={busy} label={t("submit")} busyLabel={t("submitting")} />
      </form>
      <p>
        {t("haveAccount")} <Link href="/sign-in">{t("signIn")}</Link>
      </p>
    </section>
  )
}
