import { type JSX, type Ref, useEffect } from "react"
import { useLocation } from "wouter"
import type { ApiFailure } from "../api/client.ts"
import { useSession } from "../session.tsx"
import { ErrorMessage } from "./ui.tsx"

/** On the sign-in and register pages: once the session is signed in, replace this page with `target`. */
export const useLeaveOnceSignedIn = (target: string): { readonly refresh: () => Promise<void> } => {
  const { session, refresh } = useSession()
  const [, navigate] = useLocation()
  const signedIn = session.status === "signed-in"
  useEffect(() => {
    if (signedIn) navigate(target, { replace: true })
  }, [signedIn, navigate, target])
  return { refresh }
}

/** A labelled text input of the sign-in and register forms; a hint gets the id `${id}-hint` and describes it. */
export function AuthField({
  id,
  label,
  hint,
  type,
  autoComplete,
  required,
  inputRef,
  value,
  onValue
}: {
  readonly id: string
  readonly label: string
  readonly hint?: string
  readonly type?: "email" | "password"
  readonly autoComplete: string
  readonly required?: boolean
  readonly inputRef?: Ref<HTMLInputElement>
  readonly value: string
  readonly onValue: (value: string) => void
}): JSX.Element {
  const hintId = `${id}-hint`
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        ref={inputRef}
        type={type}
        autoComplete={autoComplete}
        required={required}
        aria-describedby={hint === undefined ? undefined : hintId}
        value={value}
        onChange={(event) => onValue(event.currentTarget.value)}
      />
      {hint === undefined ? null : (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      )}
    </div>
  )
}

/** Why signing in or registering failed, with the likely cause of a 403 spelled out. */
export function AuthFailure({
  failure,
  failedText,
  wrongOriginText
}: {
  readonly failure: ApiFailure
  readonly failedText: string
  /** Shown for a 403: the CSRF rule refuses a sign-in from an address missing in PUBLIC_ORIGIN. */
  readonly wrongOriginText: string
}): JSX.Element {
  return (
    <ErrorMessage failure={failure}>
      {failedText}
      {failure.tag === "Forbidden" ? <p>{wrongOriginText}</p> : null}
    </ErrorMessage>
  )
}

export function AuthSubmit({
  busy,
  label,
  busyLabel
}: {
  readonly busy: boolean
  readonly label: string
  readonly busyLabel: string
}): JSX.Element {
  return (
    <div className="actions">
      <button type="submit" disabled={busy}>
        {busy ? busyLabel : label}
      </button>
    </div>
  )
}
