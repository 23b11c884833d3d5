import { type JSX, useCallback, useEffect, useMemo, useRef, useState } from "react"
import { Link } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { levelKey, mailStrings } from "../components/mail/mail.i18n.ts"
import { MessageList } from "../components/mail/MessageList.tsx"
import { EmptyState, ErrorMessage, Loading } from "../components/ui.tsx"
import { formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { matrixStrings } from "./MatrixPage.i18n.ts"
import { cellKey, type MatrixCell, matrixLevels } from "./mail/matrix.ts"
import type { EmailSummary } from "./mail/types.ts"
import { useMailActivity } from "./mail/useMailActivity.ts"

/**
 * One cell's messages, highest score first, a page of 100 at a time (GET /emails with the cell's
 * urgency and importance). A new cell or generation starts again from the first page.
 */
const useCellMessages = (cell: MatrixCell | null, generation: number) => {
  const [items, setItems] = useState<ReadonlyArray<EmailSummary>>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | null>(null)
  const controller = useRef<AbortController | null>(null)

  const load = useCallback(
    (from: string | null) => {
      if (cell === null) return
      controller.current?.abort()
      const current = new AbortController()
      controller.current = current
      setLoading(true)
      void callApi(
        "emails",
        (emails) =>
          emails.list({
            query: {
              sort: "score",
              analysisState: "analysed",
              urgency: cell.urgency,
              importance: cell.importance,
              limit: 100,
              ...(from === null ? {} : { cursor: from })
            }
          }),
        current.signal
      ).then((page) => {
        if (current.signal.aborted) return
        setLoading(false)
        if (!page.ok) {
          setFailure(page.failure)
          return
        }
        setFailure(null)
        setItems((before) => (from === null ? page.value.items : [...before, ...page.value.items]))
        setCursor(page.value.nextCursor)
      })
    },
    [cell]
  )
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new generation loads the cell again
  useEffect(() => {
    setItems([])
    setCursor(null)
    load(null)
    return () => controller.current?.abort()
  }, [load, generation])
  const loadMore = useCallback(() => {
    if (!loading && cursor !== null) load(cursor)
  }, [load, loading, cursor])
  return { items, hasMore: cursor !== null, loading, failure, loadMore }
}

export function MatrixPage(): JSX.Element {
  const t = useStrings(matrixStrings)
  const m = useStrings(mailStrings)
  const language = useLanguage()
  const [generation, setGeneration] = useState(0)
  // one request counts every cell (GET /emails/matrix); new mail counts again
  const counts = useApiQuery("emails", (emails) => emails.matrix({ query: {} }), [generation])
  useMailActivity(() => setGeneration((n) => n + 1))
  const cells = useMemo(() => {
    const byCell = new Map<string, number>()
    if (counts.state.status === "ok") {
      for (const cell of counts.state.value.cells) byCell.set(cellKey(cell), cell.count)
    }
    return byCell
  }, [counts.state])
  const [picked, setPicked] = useState<MatrixCell | null>(null)
  const cellList = useCellMessages(picked, generation)
  const levelName = (level: number) => m(levelKey(level))
  const done = counts.state.status !== "loading"
  const total = counts.state.status === "ok" ? counts.state.value.total : 0
  const failure = counts.state.status === "error" ? counts.state.failure : null

  if (counts.state.status === "ok" && total === 0) {
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
        {done ? t("counted", { count: formatNumber(language, total) }) : null}
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
            {cellList.failure === null ? null : <ErrorMessage failure={cellList.failure}>{t("failed")}</ErrorMessage>}
            {cellList.items.length === 0 && !cellList.loading && cellList.failure === null ? (
              <p>{t("emptyCell")}</p>
            ) : (
              <MessageList
                items={cellList.items}
                hasMore={cellList.hasMore}
                loading={cellList.loading}
                onEndReached={cellList.loadMore}
              />
            )}
          </>
        )}
      </section>
      {done ? null : <Loading label={t("counting", { count: 0 })} />}
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
  readonly cells: ReadonlyMap<string, number>
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
        const count = cells.get(cellKey(cell)) ?? 0
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
