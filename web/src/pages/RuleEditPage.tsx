import { Effect } from "effect"
import { type FormEvent, type JSX, useEffect, useState } from "react"
import { Link, useLocation, useParams } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { RuleForm } from "../components/mail/RuleForm.tsx"
import { EmptyState, ErrorMessage, Loading, ProgressBar, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, formatNumber, type Translate, useLanguage, useStrings } from "../i18n/index.ts"
import { ruleEditStrings } from "./RuleEditPage.i18n.ts"
import { type DraftProblem, emptyDraft, fromRule, type RuleDraft, toRuleInput } from "./mail/ruleForm.ts"
import type { AccountId, ApplyRequest, RuleId, RuleTestResponse, RuleView } from "./mail/types.ts"
import { useJobEvents } from "./mail/useJobEvents.ts"

type T = Translate<typeof ruleEditStrings.en>

/** `/rules/new` and `/rules/:id`: the form, then (once saved) dry run, apply to past mail, and the rule's history. */
export function RuleEditPage(): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const params = useParams<{ id?: string }>()
  const rules = useApiQuery("rules", (rules) => rules.list(), [])
  if (params.id === undefined) return <RuleEditor rule={null} />
  if (rules.state.status === "loading") return <Loading label={t("loading")} />
  if (rules.state.status === "error") return <ErrorMessage failure={rules.state.failure}>{t("notFound")}</ErrorMessage>
  // the id comes from the list the API gave (already a RuleId), never from casting the address
  const rule = rules.state.value.items.find((candidate) => candidate.id === params.id)
  if (rule === undefined) {
    return (
      <EmptyState title={t("notFound")}>
        <Link href="/rules">{t("back")}</Link>
      </EmptyState>
    )
  }
  return <RuleEditor key={rule.id} rule={rule} />
}

/** Folder paths of every account, for the form's suggestions. */
const useMailboxPaths = (): ReadonlyArray<string> => {
  const paths = useApiQuery(
    "accounts",
    (accounts) =>
      accounts.list().pipe(
        Effect.flatMap(({ items }) =>
          Effect.forEach(items, (account) => accounts.mailboxes({ params: { id: account.id } }), {
            concurrency: 4
          })
        ),
        Effect.map((lists) => [...new Set(lists.flatMap((list) => list.items.map((mailbox) => mailbox.path)))].sort())
      ),
    []
  )
  return paths.state.status === "ok" ? paths.state.value : []
}

function RuleEditor({ rule }: { readonly rule: RuleView | null }): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const [, navigate] = useLocation()
  const mailboxes = useMailboxPaths()
  const [saved, setSaved] = useState<RuleView | null>(rule)
  const [draft, setDraft] = useState<RuleDraft>(() => (rule === null ? emptyDraft() : fromRule(rule)))
  const [dirty, setDirty] = useState(false)
  const [problems, setProblems] = useState<ReadonlyArray<DraftProblem>>([])
  const [status, setStatus] = useState<
    | { readonly kind: "idle" | "saving" | "saved" | "invalid" }
    | { readonly kind: "failed"; readonly failure: ApiFailure }
  >({ kind: "idle" })

  /** Saves the draft; resolves to the stored rule, or null when it was not saved. */
  const save = async (): Promise<RuleView | null> => {
    const checked = toRuleInput(draft)
    if (checked._tag === "Invalid") {
      setProblems(checked.problems)
      setStatus({ kind: "invalid" })
      return null
    }
    setProblems([])
    setStatus({ kind: "saving" })
    const current = saved
    const result =
      current === null
        ? await callApi("rules", (rules) => rules.create({ payload: checked.rule }))
        : await callApi("rules", (rules) => rules.update({ params: { id: current.id }, payload: checked.rule }))
    if (!result.ok) {
      setStatus({ kind: "failed", failure: result.failure })
      return null
    }
    setSaved(result.value)
    setDirty(false)
    setStatus({ kind: "saved" })
    if (current === null) navigate(`/rules/${result.value.id}`, { replace: true })
    return result.value
  }
  const submit = (event: FormEvent) => {
    event.preventDefault()
    void save()
  }
  const remove = async () => {
    if (saved === null || !window.confirm(t("deleteConfirm"))) return
    const result = await callApi("rules", (rules) => rules.remove({ params: { id: saved.id } }))
    if (result.ok) navigate("/rules")
    else setStatus({ kind: "failed", failure: result.failure })
  }
  return (
    <>
      <p>
        <Link href="/rules">{t("back")}</Link>
      </p>
      <h1>{saved === null ? t("newTitle") : t("editTitle", { name: saved.name })}</h1>
      <form className="stack" onSubmit={submit} noValidate aria-label={saved === null ? t("newTitle") : saved.name}>
        <RuleForm
          draft={draft}
          onChange={(next) => {
            setDraft(next)
            setDirty(true)
          }}
          problems={problems}
          mailboxes={mailboxes}
        />
        <div className="actions">
          <button type="submit" disabled={status.kind === "saving"}>
            {status.kind === "saving" ? t("saving") : t("save")}
          </button>
          {saved === null ? null : (
            <button type="button" className="danger" onClick={() => void remove()}>
              {t("delete")}
            </button>
          )}
        </div>
        <div aria-live="polite">
          {status.kind === "saved" ? <p className="notice">{t("saved")}</p> : null}
          {status.kind === "invalid" ? <ErrorMessage>{t("fixProblems")}</ErrorMessage> : null}
          {status.kind === "failed" ? <ErrorMessage failure={status.failure}>{t("saveFailed")}</ErrorMessage> : null}
        </div>
      </form>
      {saved === null ? (
        <p className="hint">{t("saveFirst")}</p>
      ) : (
        <>
          <DryRun ruleId={saved.id} beforeRun={async () => (dirty ? (await save()) !== null : true)} />
          <ApplyToPastMail ruleId={saved.id} />
          <History ruleId={saved.id} />
        </>
      )}
    </>
  )
}

const observedText = (value: RuleTestResponse["results"][number]["conditions"][number]["observed"]): string =>
  value === null ? "—" : Array.isArray(value) ? value.join(", ") : String(value)

function DryRun({
  ruleId,
  beforeRun
}: {
  readonly ruleId: RuleId
  readonly beforeRun: () => Promise<boolean>
}): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const language = useLanguage()
  const [limit, setLimit] = useState("20")
  const [state, setState] = useState<
    | { readonly kind: "idle" | "running" }
    | { readonly kind: "done"; readonly response: RuleTestResponse }
    | { readonly kind: "failed"; readonly failure: ApiFailure }
  >({ kind: "idle" })
  const run = async () => {
    if (!(await beforeRun())) return
    setState({ kind: "running" })
    const count = Math.max(1, Math.min(100, Math.trunc(Number(limit)) || 20))
    const result = await callApi("rules", (rules) => rules.test({ params: { id: ruleId }, payload: { limit: count } }))
    setState(result.ok ? { kind: "done", response: result.value } : { kind: "failed", failure: result.failure })
  }
  return (
    <section aria-labelledby="dry-run-heading">
      <h2 id="dry-run-heading">{t("dryRun")}</h2>
      <p className="hint">{t("dryRunHint")}</p>
      <div className="field-row">
        <label className="field">
          {t("dryRunLimit")}
          <input
            type="number"
            name="dryRunLimit"
            min={1}
            max={100}
            value={limit}
            onChange={(event) => setLimit(event.currentTarget.value)}
          />
        </label>
        <button type="button" onClick={() => void run()} disabled={state.kind === "running"}>
          {state.kind === "running" ? t("dryRunning") : t("dryRunRun")}
        </button>
      </div>
      <div aria-live="polite" data-testid="dry-run-results">
        {state.kind === "failed" ? <ErrorMessage failure={state.failure}>{t("dryRunFailed")}</ErrorMessage> : null}
        {state.kind === "done" ? <DryRunResults response={state.response} t={t} language={language} /> : null}
      </div>
    </section>
  )
}

function DryRunResults({
  response,
  t,
  language
}: {
  readonly response: RuleTestResponse
  readonly t: T
  readonly language: ReturnType<typeof useLanguage>
}): JSX.Element {
  if (response.results.length === 0) return <p>{t("dryRunNone")}</p>
  const matched = response.results.filter((result) => result.matched).length
  return (
    <>
      <p>
        {t("dryRunSummary", {
          matched: formatNumber(language, matched),
          total: formatNumber(language, response.results.length)
        })}
      </p>
      {response.skipped.length > 0 ? <p className="hint">{t("skipped", { count: response.skipped.length })}</p> : null}
      <ul className="search-hits">
        {response.results.map((result) => (
          <li key={result.email.id} data-email-id={result.email.id} data-matched={result.matched}>
            <strong>{result.email.subject ?? "—"}</strong> ({result.email.mailbox}) —{" "}
            <span className={result.matched ? "outcome-pass" : "outcome-fail"}>
              {result.matched ? t("matched") : t("notMatched")}
            </span>
            <ul>
              {result.conditions.map((condition) => (
                <li key={condition.index} data-condition-passed={condition.passed}>
                  {condition.description}:{" "}
                  <span className={condition.passed ? "outcome-pass" : "outcome-fail"}>
                    {condition.passed ? t("passed") : t("failed")}
                  </span>{" "}
                  <span className="hint">({t("saw", { value: observedText(condition.observed) })})</span>
                </li>
              ))}
            </ul>
            <p className="hint">
              {result.changes.length === 0
                ? t("nothingToChange")
                : t("wouldChange", {
                    changes: result.changes
                      .map((change) =>
                        "mailbox" in change
                          ? `${change.type} ${change.mailbox}`
                          : "tag" in change
                            ? `${change.type} ${change.tag}`
                            : change.type
                      )
                      .join(", ")
                  })}
            </p>
          </li>
        ))}
      </ul>
    </>
  )
}

type ApplyState =
  | { readonly kind: "idle" | "counting" }
  | { readonly kind: "confirm"; readonly count: number; readonly exact: boolean; readonly selected: number }
  | { readonly kind: "started"; readonly jobId: string }
  | { readonly kind: "failed"; readonly failure: ApiFailure }

function ApplyToPastMail({ ruleId }: { readonly ruleId: RuleId }): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const language = useLanguage()
  const accounts = useApiQuery("accounts", (accounts) => accounts.list(), [])
  const accountItems = accounts.state.status === "ok" ? accounts.state.value.items : []
  const [accountId, setAccountId] = useState<AccountId | "">("")
  const [mailbox, setMailbox] = useState("")
  const [since, setSince] = useState("")
  const [state, setState] = useState<ApplyState>({ kind: "idle" })
  const job = useJobEvents(state.kind === "started" ? state.jobId : null)

  const request = (confirm: number | undefined): ApplyRequest => {
    const sinceDate = since === "" ? null : new Date(`${since}T00:00:00`)
    return {
      ruleIds: [ruleId],
      ...(accountId === "" ? {} : { accountId }),
      ...(mailbox.trim() === "" ? {} : { mailbox: mailbox.trim() }),
      ...(sinceDate === null || Number.isNaN(sinceDate.getTime()) ? {} : { since: sinceDate.toISOString() }),
      ...(confirm === undefined ? {} : { confirm })
    }
  }
  /** Without `confirm` the API starts nothing and answers 409 with the count: that is the preview. */
  const send = async (confirm: number | undefined) => {
    setState({ kind: "counting" })
    const result = await callApi("rules", (rules) =>
      rules.apply({ payload: request(confirm) }).pipe(
        Effect.map((accepted): ApplyState => ({ kind: "started", jobId: accepted.jobId })),
        Effect.catchTag("ApplyConfirmationRequired", (required) =>
          Effect.succeed<ApplyState>({
            kind: "confirm",
            count: required.count,
            exact: required.exact,
            selected: required.selected
          })
        )
      )
    )
    setState(result.ok ? result.value : { kind: "failed", failure: result.failure })
  }
  const progress = job?.progress ?? null
  const summary = job?.state === "succeeded" ? appliedSummary(job.result) : null
  return (
    <section aria-labelledby="apply-heading">
      <h2 id="apply-heading">{t("apply")}</h2>
      <p className="hint">{t("applyHint")}</p>
      <div className="field-row">
        <label className="field">
          {t("applyAccount")}
          <select
            name="applyAccount"
            value={accountId}
            onChange={(event) => {
              const chosen = event.currentTarget.value
              setAccountId(accountItems.find((account) => account.id === chosen)?.id ?? "")
            }}
          >
            <option value="">{t("allAccounts")}</option>
            {accountItems.map((account) => (
              <option key={account.id} value={account.id}>
                {account.label}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          {t("applyMailbox")}
          <input
            name="applyMailbox"
            value={mailbox}
            list="rule-mailboxes"
            onChange={(event) => setMailbox(event.currentTarget.value)}
          />
        </label>
        <label className="field">
          {t("applySince")}
          <input
            name="applySince"
            type="date"
            value={since}
            onChange={(event) => setSince(event.currentTarget.value)}
          />
        </label>
      </div>
      <div className="actions">
        <button
          type="button"
          onClick={() => void send(undefined)}
          disabled={state.kind === "counting" || (state.kind === "started" && job?.finishedAt == null)}
        >
          {state.kind === "counting" ? t("counting") : t("applyCount")}
        </button>
      </div>
      <div aria-live="polite" data-testid="apply-status">
        {state.kind === "confirm" ? (
          state.count === 0 ? (
            <p className="notice">{t("nothingToApply")}</p>
          ) : (
            <div className="notice">
              <p data-count={state.count}>
                {t(state.exact ? "confirmExact" : "confirmEstimate", {
                  count: formatNumber(language, state.count),
                  selected: formatNumber(language, state.selected)
                })}
              </p>
              <div className="actions">
                <button type="button" onClick={() => void send(state.count)}>
                  {t("confirmApply", { count: formatNumber(language, state.count) })}
                </button>
                <button type="button" className="secondary" onClick={() => setState({ kind: "idle" })}>
                  {t("cancel")}
                </button>
              </div>
            </div>
          )
        ) : null}
        {state.kind === "failed" ? <ErrorMessage failure={state.failure}>{t("applyFailed")}</ErrorMessage> : null}
        {state.kind === "started" && (job === null || job.finishedAt === null) ? (
          progress !== null && progress.total !== null && progress.total > 0 ? (
            <ProgressBar
              value={(progress.done / progress.total) * 100}
              label={t("running", {
                done: formatNumber(language, progress.done),
                total: formatNumber(language, progress.total)
              })}
            />
          ) : (
            <p>{t("runningUnknown", { done: formatNumber(language, progress?.done ?? 0) })}</p>
          )
        ) : null}
        {summary !== null ? (
          <p className="notice" data-testid="apply-done">
            {t("applied", {
              changed: formatNumber(language, summary.changed),
              failed: formatNumber(language, summary.actionsFailed)
            })}
          </p>
        ) : null}
        {job !== null && job.finishedAt !== null && job.state !== "succeeded" ? (
          <ErrorMessage>{t("applyEnded", { state: job.error?.message ?? job.state })}</ErrorMessage>
        ) : null}
      </div>
    </section>
  )
}

/** The apply job's result (`ApplySummary`) as far as the page shows it; the job's result is `unknown` on the wire. */
const appliedSummary = (result: unknown): { readonly changed: number; readonly actionsFailed: number } | null => {
  if (typeof result !== "object" || result === null) return null
  const changed = "changed" in result && typeof result.changed === "number" ? result.changed : null
  const actionsFailed = "actionsFailed" in result && typeof result.actionsFailed === "number" ? result.actionsFailed : 0
  return changed === null ? null : { changed, actionsFailed }
}

function History({ ruleId }: { readonly ruleId: RuleId }): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const language = useLanguage()
  const [generation, setGeneration] = useState(0)
  const log = useApiQuery("rules", (rules) => rules.log({ query: { ruleId, limit: 50 } }), [ruleId, generation])
  // refreshed now and then: new mail runs rules in the background
  useEffect(() => {
    const timer = setInterval(() => setGeneration((n) => n + 1), 15_000)
    return () => clearInterval(timer)
  }, [])
  return (
    <section aria-labelledby="history-heading">
      <h2 id="history-heading">{t("history")}</h2>
      <QueryProgress state={log.state} loadingLabel={t("loading")} failedText={t("historyFailed")} />
      {log.state.status === "ok" ? (
        log.state.value.items.length === 0 ? (
          <p>{t("historyEmpty")}</p>
        ) : (
          <DataTable headings={[t("when"), t("message"), t("actions"), t("outcome")]}>
            {log.state.value.items.map((run) => (
              <tr key={run.id}>
                <td>
                  {formatDateTime(language, run.createdAt)} · {t(`trigger_${run.trigger}`)}
                </td>
                <td>
                  {run.email.id === null ? (
                    (run.email.subject ?? "—")
                  ) : (
                    <Link href={`/messages/${run.email.id}`}>{run.email.subject ?? "—"}</Link>
                  )}
                  {run.email.mailbox === null ? null : <span className="hint"> ({run.email.mailbox})</span>}
                </td>
                <td>{run.actions.map((entry) => `${entry.action.type} (${entry.status})`).join(", ")}</td>
                <td>
                  {t(`outcome_${run.outcome}`)}
                  {run.error === null ? null : <span className="hint"> {run.error.message}</span>}
                </td>
              </tr>
            ))}
          </DataTable>
        )
      ) : null}
    </section>
  )
}
