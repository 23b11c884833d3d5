import { type JSX, useState } from "react"
import { Link } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { EmptyState, ErrorMessage, Loading, DataTable, QueryProgress } from "../components/ui.tsx"
import { formatDateTime, formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { ruleEditStrings } from "./RuleEditPage.i18n.ts"
import { rulesStrings } from "./RulesPage.i18n.ts"
import type { ApplyRunPage, RuleView } from "./mail/types.ts"

/** The user's rules in the order they run, and the runs on past mail (with undo). */
export function RulesPage(): JSX.Element {
  const t = useStrings(rulesStrings)
  const rules = useApiQuery("rules", (rules) => rules.list(), [])
  return (
    <>
      <h1>{t("title")}</h1>
      <p>{t("intro")}</p>
      <p>
        <Link href="/rules/new" className="button">
          {t("newRule")}
        </Link>
      </p>
      {rules.state.status === "loading" ? <Loading label={t("loading")} /> : null}
      {rules.state.status === "error" ? <ErrorMessage failure={rules.state.failure}>{t("failed")}</ErrorMessage> : null}
      {rules.state.status === "ok" ? (
        rules.state.value.items.length === 0 ? (
          <EmptyState title={t("emptyTitle")}>
            <p>{t("emptyText")}</p>
            <Link href="/rules/new">{t("newRule")}</Link>
          </EmptyState>
        ) : (
          <RuleTable rules={rules.state.value.items} />
        )
      ) : null}
      <Runs />
    </>
  )
}

function RuleTable({ rules }: { readonly rules: ReadonlyArray<RuleView> }): JSX.Element {
  const t = useStrings(rulesStrings)
  const r = useStrings(ruleEditStrings)
  const language = useLanguage()
  return (
    <DataTable headings={[t("order"), t("name"), t("state"), t("conditions"), t("actions")]}>
      {rules.map((rule) => (
        <tr key={rule.id}>
          <td>{formatNumber(language, rule.priority)}</td>
          <td>
            <Link href={`/rules/${rule.id}`}>{rule.name}</Link>
          </td>
          <td>{rule.enabled ? t("on") : t("off")}</td>
          <td>
            {t("conditionCount", {
              count: formatNumber(language, rule.conditions.length),
              match: rule.match === "all" ? t("all") : t("any")
            })}
          </td>
          <td>
            {rule.actions
              .map((action) => {
                const label = r(`a_${action.type}`)
                return "mailbox" in action
                  ? `${label}: ${action.mailbox}`
                  : "tag" in action
                    ? `${label}: ${action.tag}`
                    : label
              })
              .join(", ")}
          </td>
        </tr>
      ))}
    </DataTable>
  )
}

function Runs(): JSX.Element {
  const t = useStrings(rulesStrings)
  const language = useLanguage()
  const runs = useApiQuery("rules", (rules) => rules.runs({ query: { limit: 20 } }), [])
  const [undo, setUndo] = useState<
    | { readonly kind: "queued"; readonly jobId: string }
    | { readonly kind: "failed"; readonly failure: ApiFailure }
    | null
  >(null)
  const startUndo = async (run: ApplyRunPage["items"][number]) => {
    const result = await callApi("rules", (rules) => rules.undo({ params: { id: run.id } }))
    setUndo(result.ok ? { kind: "queued", jobId: result.value.jobId } : { kind: "failed", failure: result.failure })
    runs.reload()
  }
  return (
    <section aria-labelledby="runs-heading">
      <h2 id="runs-heading">{t("runs")}</h2>
      <div aria-live="polite">
        {undo?.kind === "queued" ? (
          <p className="notice">
            {t("undoQueued", { id: undo.jobId })} <Link href="/jobs">/jobs</Link>
          </p>
        ) : null}
        {undo?.kind === "failed" ? <ErrorMessage failure={undo.failure}>{t("undoFailed")}</ErrorMessage> : null}
      </div>
      <QueryProgress state={runs.state} loadingLabel={t("loading")} failedText={t("runsFailed")} />
      {runs.state.status === "ok" ? (
        runs.state.value.items.length === 0 ? (
          <p>{t("runsEmpty")}</p>
        ) : (
          <DataTable headings={[t("when"), t("confirmed"), t("changed"), t("restored"), { hidden: t("undo") }]}>
            {runs.state.value.items.map((run) => (
              <tr key={run.id}>
                <td>{formatDateTime(language, run.createdAt)}</td>
                <td>{run.confirmedCount === null ? "—" : formatNumber(language, run.confirmedCount)}</td>
                <td>{formatNumber(language, run.messages)}</td>
                <td>{formatNumber(language, run.restored)}</td>
                <td>
                  {run.undo !== null ? (
                    t("undone")
                  ) : run.messages > 0 ? (
                    <button type="button" className="secondary" onClick={() => void startUndo(run)}>
                      {t("undo")}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </DataTable>
        )
      ) : null}
    </section>
  )
}
