import { type FormEvent, type JSX, useEffect, useRef, useState } from "react"
import type { AccountView } from "../../../src/contract/accounts/Account.ts"
import { type ApiFailure, callApi } from "../api/client.ts"
import { type JobId, useWatchedJob } from "../api/jobs.ts"
import { JobProgress } from "../components/JobProgress.tsx"
import { ErrorMessage } from "../components/ui.tsx"
import { useStrings } from "../i18n/index.ts"
import { accountPartsStrings } from "./accountParts.i18n.ts"

export type { AccountView }

type Security = AccountView["security"]

const defaultPorts: Record<Security, number> = { tls: 993, starttls: 143, none: 143 }

const reasonKeys = {
  authentication: "reason_authentication",
  tls: "reason_tls",
  dns: "reason_dns",
  timeout: "reason_timeout",
  refused: "reason_refused",
  connection: "reason_connection",
  protocol: "reason_protocol",
  host_not_allowed: "reason_host_not_allowed"
} as const

const isReason = (value: string): value is keyof typeof reasonKeys => Object.hasOwn(reasonKeys, value)

/** The failure of a create or update: a refused login shows the IMAP server's own words. */
function SaveFailure({ failure }: { readonly failure: ApiFailure }): JSX.Element {
  const t = useStrings(accountPartsStrings)
  if (failure.tag === "AccountVerificationFailed") {
    const reason = failure.reason !== undefined && isReason(failure.reason) ? t(reasonKeys[failure.reason]) : "?"
    return <ErrorMessage failure={failure}>{t("verificationFailed", { reason })}</ErrorMessage>
  }
  return <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage>
}

/**
 * Connect (no `account`) or edit an IMAP account. Editing sends only what changed; a change of
 * server, port, security or login name needs the password again (the API refuses otherwise,
 * because those decide where the stored password is sent), so the field becomes required.
 */
export function AccountForm({
  account,
  onSaved
}: {
  readonly account?: AccountView | undefined
  readonly onSaved: (account: AccountView) => void
}): JSX.Element {
  const t = useStrings(accountPartsStrings)
  const prefix = account === undefined ? "connect" : "edit"
  const [label, setLabel] = useState(account?.label ?? "")
  const [host, setHost] = useState(account?.host ?? "")
  const [port, setPort] = useState(account?.port ?? 993)
  const [portTouched, setPortTouched] = useState(account !== undefined)
  const [security, setSecurity] = useState<Security>(account?.security ?? "tls")
  const [username, setUsername] = useState(account?.username ?? "")
  const [password, setPassword] = useState("")
  const [interval, setSyncInterval] = useState(
    account === undefined ? "15" : account.syncIntervalMinutes === null ? "" : String(account.syncIntervalMinutes)
  )
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)

  const bindingChanged =
    account !== undefined &&
    (host.trim() !== account.host ||
      port !== account.port ||
      security !== account.security ||
      username !== account.username)
  const passwordNeeded = account === undefined || bindingChanged
  const syncIntervalMinutes = interval.trim() === "" ? null : Number(interval)

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setFailure(undefined)
    const result =
      account === undefined
        ? await callApi("accounts", (accounts) =>
            accounts.create({
              payload: { label, host: host.trim(), port, security, username, password, syncIntervalMinutes }
            })
          )
        : await callApi("accounts", (accounts) =>
            accounts.update({
              params: { id: account.id },
              payload: {
                ...(label !== account.label ? { label } : {}),
                ...(host.trim() !== account.host ? { host: host.trim() } : {}),
                ...(port !== account.port ? { port } : {}),
                ...(security !== account.security ? { security } : {}),
                ...(username !== account.username ? { username } : {}),
                ...(password !== "" ? { password } : {}),
                ...(syncIntervalMinutes !== account.syncIntervalMinutes ? { syncIntervalMinutes } : {})
              }
            })
          )
    setBusy(false)
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setPassword("")
    onSaved(result.value)
  }

  return (
    <form className="stack" onSubmit={(event) => void submit(event)} aria-busy={busy}>
      <div className="field">
        <label htmlFor={`${prefix}-label`}>{t("label")}</label>
        <input
          id={`${prefix}-label`}
          required
          maxLength={100}
          aria-describedby={`${prefix}-label-hint`}
          value={label}
          onChange={(event) => setLabel(event.currentTarget.value)}
        />
        <p className="hint" id={`${prefix}-label-hint`}>
          {t("labelHint")}
        </p>
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-host`}>{t("host")}</label>
        <input
          id={`${prefix}-host`}
          required
          autoCapitalize="off"
          spellCheck={false}
          aria-describedby={`${prefix}-host-hint`}
          value={host}
          onChange={(event) => setHost(event.currentTarget.value)}
        />
        <p className="hint" id={`${prefix}-host-hint`}>
          {t("hostHint")}
        </p>
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor={`${prefix}-security`}>{t("security")}</label>
          <select
            id={`${prefix}-security`}
            value={security}
            onChange={(event) => {
              const chosen = (["tls", "starttls", "none"] as const).find((s) => s === event.currentTarget.value)
              if (chosen === undefined) return
              setSecurity(chosen)
              if (!portTouched) setPort(defaultPorts[chosen])
            }}
          >
            <option value="tls">{t("securityTls")}</option>
            <option value="starttls">{t("securityStarttls")}</option>
            <option value="none">{t("securityNone")}</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${prefix}-port`}>{t("port")}</label>
          <input
            id={`${prefix}-port`}
            type="number"
            min={1}
            max={65535}
            required
            value={port}
            onChange={(event) => {
              setPortTouched(true)
              setPort(event.currentTarget.valueAsNumber)
            }}
          />
        </div>
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-username`}>{t("username")}</label>
        <input
          id={`${prefix}-username`}
          required
          autoCapitalize="off"
          autoComplete="off"
          spellCheck={false}
          value={username}
          onChange={(event) => setUsername(event.currentTarget.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-password`}>
          {account === undefined ? t("password") : passwordNeeded ? t("passwordRequired") : t("passwordKeep")}
        </label>
        <input
          id={`${prefix}-password`}
          type="password"
          autoComplete="new-password"
          required={passwordNeeded}
          value={password}
          onChange={(event) => setPassword(event.currentTarget.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-interval`}>{t("interval")}</label>
        <input
          id={`${prefix}-interval`}
          type="number"
          min={1}
          max={1440}
          aria-describedby={`${prefix}-interval-hint`}
          value={interval}
          onChange={(event) => setSyncInterval(event.currentTarget.value)}
        />
        <p className="hint" id={`${prefix}-interval-hint`}>
          {t("intervalHint")}
        </p>
      </div>
      {failure !== undefined ? <SaveFailure failure={failure} /> : null}
      {busy ? (
        <p role="status" className="hint">
          {account === undefined ? t("connecting") : t("saving")}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {account === undefined ? t("connect") : t("save")}
        </button>
      </div>
    </form>
  )
}

/** "Sync now" and the sync's live progress from the job's event stream. */
export function SyncNow({
  account,
  onFinished
}: {
  readonly account: AccountView
  readonly onFinished?: (() => void) | undefined
}): JSX.Element {
  const t = useStrings(accountPartsStrings)
  const [jobId, setJobId] = useState<JobId | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined)
  const watched = useWatchedJob(jobId)
  const job = watched.status === "live" ? watched.job : watched.status === "error" ? watched.job : undefined
  const running = job !== undefined && (job.state === "queued" || job.state === "running" || job.state === "retrying")
  const finishedId = job !== undefined && !running ? job.id : undefined
  const onFinishedRef = useRef(onFinished)
  onFinishedRef.current = onFinished
  // once per finished sync: the account's state, last sync and strategy have changed
  useEffect(() => {
    if (finishedId !== undefined) onFinishedRef.current?.()
  }, [finishedId])

  const start = async () => {
    setBusy(true)
    setFailure(undefined)
    const result = await callApi("accounts", (accounts) => accounts.sync({ params: { id: account.id } }))
    setBusy(false)
    if (!result.ok) {
      setFailure(result.failure)
      return
    }
    setJobId(result.value.jobId)
  }

  return (
    <div className="sync-now">
      <button
        type="button"
        disabled={busy || running}
        aria-label={t("syncNowNamed", { label: account.label })}
        onClick={() => void start()}
      >
        {busy ? t("syncStarting") : t("syncNow")}
      </button>
      <div role="status" aria-live="polite" aria-label={t("syncProgress")}>
        {job !== undefined ? <JobProgress job={job} /> : null}
      </div>
      {failure !== undefined ? (
        <ErrorMessage failure={failure}>
          {failure.tag === "Conflict" ? t("syncAlreadyRunning") : t("failed")}
        </ErrorMessage>
      ) : null}
      {watched.status === "error" ? <ErrorMessage failure={watched.failure}>{t("failed")}</ErrorMessage> : null}
    </div>
  )
}
