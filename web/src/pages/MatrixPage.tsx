import { type JSX, useEffect, useMemo, useState } from "react"
import { Link } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { mailStrings } from "../components/mail/mail.i18n.ts"
import { MessageList } from "../components/mail/MessageList.tsx"
import { EmptyState, ErrorMessage, Loading } from "../components/ui.tsx"
import { formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { matrixStrings } from "./MatrixPage.i18n.ts"
import { cellKey, groupByCell, type MatrixCell, matrixLevels } from "./mail/matrix.ts"
import type { EmailSummary } from "./mail/types.ts"
import { useMailActivity } from "./mail/useMailActivity.ts"

/**
 * The API has no count per cell (it filters by minimum score, and 2 x urgency + importance does not
 * tell the cell), so the page walks the analysed mail page by page and counts as it goes; the
 * counts grow while it walks and the cells list what was counted.
 */
const useAllAnalysed = (generation: number) => {
  const [items, setItems] = useState<ReadonlyArray<EmailSummary>>([])
  const [done, setDone] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | null>(null)
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new generation walks again
  useEffect(() => {
    const controller = new AbortController()
    const walk = async () => {
      let cursor: string | null = null
      const collected: Array<EmailSummary> = []
      do {
        const page = await callApi(
          (client) =>
            client.emails.list({
              query: { sort: "score", analysisState: "analysed", limit: 100, ...(cursor === null ? {} : { cursor }) }
            }),
          controller.signal
        )
        if (controller.signal.aborted) return
        if (!page.ok) {
          setFailure(page.failure)
          return
        }
        collected.push(...page.value.items)
        setItems([...collected])
        cursor = page.value.nextCursor
      } while (cursor !== null)
      setDone(true)
    }
    setDone(false)
    setFailure(null)
    void walk()
    return () => controller.abort()
  }, [generation])
  return { items, done, failure }
}

export function MatrixPage(): JSX.Element {
  const t = useStrings(matrixStrings)
  const m = useStrings(mailStrings)
  const language = useLanguage()
  const [generation, setGeneration] = useState(0)
  const { items, done, failure } = useAllAnalysed(generation)
  // a walk in progress already sees new mail; a finished one walks again
  useMailActivity(() => {
    if (done) setGeneration((n) => n + 1)
  })
  const cells = useMemo(() => groupByCell(items), [items])
  const [picked, setPicked] = useState<MatrixCell | null>(null)
  const levelName = (level: number) => (level === 1 ? m("level_1") : level === 2 ? m("level_2") : m("level_3"))
  const pickedItems = picked === null ? [] : (cells.get(cellKey(picked)) ?? [])

  if (done && items.length === 0 && failure === null) {
    return (
      <>
        <h1>{t("title")}</h1>
        <EmptyState title={t("emptyTitle")}>
          <p>{t("emptyText")}</p>
          <Link href="/accounts">{t("goAccounts")}</Link>
        </EmptyState>
      </>
    )
  }
  return (
    <>
      <h1>{t("title")}</h1>
      <p>{t("intro")}</p>
      {failure === null ? null : <ErrorMessage failure={failure}>{t("failed")}</ErrorMessage>}
      <p className="hint" aria-live="polite">
        {done
          ? t("counted", { count: formatNumber(language, items.length) })
          : t("counting", { count: formatNumber(language, items.length) })}
      </p>
      {/* rows: urgency high to low; columns: importance low to high */}
      <fieldset className="matrix">
        <legend className="visually-hidden">{t("title")}</legend>
        <span className="axis" aria-hidden="true">
          {t("urgency")} ↓ / {t("importance")} →
        </span>
        {matrixLevels.map((importance) => (
          <span key={`head-${importance}`} className="axis" aria-hidden="true">
            {levelName(importance)}
          </span>
        ))}
        {[...matrixLevels].reverse().map((urgency) => (
          <MatrixRow
            key={urgency}
            urgency={urgency}
            label={levelName(urgency)}
            cells={cells}
            picked={picked}
            onPick={setPicked}
            describe={(cell, count) =>
              t("cell", {
                urgency: levelName(cell.urgency),
                importance: levelName(cell.importance),
                count: formatNumber(language, count)
              })
            }
            format={(count) => formatNumber(language, count)}
          />
        ))}
      </fieldset>
      <section aria-live="polite">
        {picked === null ? (
          <p>{t("pick")}</p>
        ) : (
          <>
            <h2>{t("cellTitle", { urgency: levelName(picked.urgency), importance: levelName(picked.importance) })}</h2>
            {pickedItems.length === 0 && done ? (
              <p>{t("emptyCell")}</p>
            ) : (
              <MessageList items={pickedItems} hasMore={false} loading={!done} onEndReached={() => undefined} />
            )}
          </>
        )}
      </section>
      {!done && items.length === 0 && failure === null ? <Loading label={t("counting", { count: 0 })} /> : null}
    </>
  )
}

function MatrixRow({
  urgency,
  label,
  cells,
  picked,
  onPick,
  describe,
  format
}: {
  readonly urgency: MatrixCell["urgency"]
  readonly label: string
  readonly cells: ReadonlyMap<string, ReadonlyArray<EmailSummary>>
  readonly picked: MatrixCell | null
  readonly onPick: (cell: MatrixCell) => void
  readonly describe: (cell: MatrixCell, count: number) => string
  readonly format: (count: number) => string
}): JSX.Element {
  return (
    <>
      <span className="axis" aria-hidden="true">
        {label}
      </span>
      {matrixLevels.map((importance) => {
        const cell = { urgency, importance }
        const count = cells.get(cellKey(cell))?.length ?? 0
        const score = 2 * urgency + importance
        const band = score >= 8 ? "red" : score >= 5 ? "yellow" : "green"
        return (
          <button
            key={importance}
            type="button"
            className={`matrix-cell priority-${band}`}
            aria-pressed={picked !== null && cellKey(picked) === cellKey(cell)}
            aria-label={describe(cell, count)}
            data-cell={cellKey(cell)}
            onClick={() => onPick(cell)}
          >
            {format(count)}
          </button>
        )
      })}
    </>
  )
}
