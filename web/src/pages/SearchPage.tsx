import { type FormEvent, type JSX, useState } from "react"
import { Link, useLocation, useSearch } from "wouter"
import { useApiQuery } from "../api/useApiQuery.ts"
import { PriorityBadge } from "../components/mail/PriorityBadge.tsx"
import { Snippet } from "../components/mail/Snippet.tsx"
import { EmptyState, ErrorMessage, Loading } from "../components/ui.tsx"
import { formatDateTime, formatNumber, useLanguage, useStrings } from "../i18n/index.ts"
import { searchStrings } from "./SearchPage.i18n.ts"
import type { SearchMode } from "./mail/types.ts"

const modes: ReadonlyArray<SearchMode> = ["hybrid", "fulltext", "semantic"]
const modeOf = (value: string | null): SearchMode => modes.find((mode) => mode === value) ?? "hybrid"

/** One box, three ways to search; the query lives in the address (?q=&mode=) so a search can be shared and reloaded. */
export function SearchPage(): JSX.Element {
  const t = useStrings(searchStrings)
  const params = new URLSearchParams(useSearch())
  const [, navigate] = useLocation()
  const q = (params.get("q") ?? "").trim()
  const mode = modeOf(params.get("mode"))
  const [text, setText] = useState(q)
  const [chosenMode, setChosenMode] = useState<SearchMode>(mode)
  const go = (query: string, searchMode: SearchMode) =>
    navigate(`/search?${new URLSearchParams({ q: query, mode: searchMode }).toString()}`)
  const submit = (event: FormEvent) => {
    event.preventDefault()
    if (text.trim().length > 0) go(text.trim(), chosenMode)
  }
  return (
    <>
      <h1>{t("title")}</h1>
      <search>
        <form className="search-form" onSubmit={submit}>
          <label className="field">
            {t("query")}
            <input
              type="search"
              name="q"
              value={text}
              maxLength={500}
              onChange={(event) => setText(event.currentTarget.value)}
              aria-describedby="search-hint"
            />
            <span className="hint" id="search-hint">
              {t("queryHint")}
            </span>
          </label>
          <fieldset>
            <legend>{t("mode")}</legend>
            {modes.map((candidate) => (
              <label key={candidate} className="check">
                <input
                  type="radio"
                  name="mode"
                  value={candidate}
                  checked={chosenMode === candidate}
                  onChange={() => setChosenMode(candidate)}
                />
                {t(candidate)}
              </label>
            ))}
          </fieldset>
          <button type="submit">{t("submit")}</button>
        </form>
      </search>
      {q === "" ? (
        <EmptyState title={t("startTitle")}>
          <p>{t("startText")}</p>
        </EmptyState>
      ) : (
        <Results q={q} mode={mode} onWords={() => go(q, "fulltext")} />
      )}
    </>
  )
}

function Results({
  q,
  mode,
  onWords
}: {
  readonly q: string
  readonly mode: SearchMode
  readonly onWords: () => void
}): JSX.Element {
  const t = useStrings(searchStrings)
  const language = useLanguage()
  const result = useApiQuery("search", (search) => search.search({ query: { q, mode, limit: 50 } }), [q, mode])
  if (result.state.status === "loading") return <Loading label={t("searching")} />
  if (result.state.status === "error") {
    const semantic = result.state.failure.tag === "SemanticSearchUnavailable"
    return (
      <ErrorMessage failure={result.state.failure}>
        {semantic ? t("semanticUnavailable") : t("failed")}
        {semantic ? (
          <button type="button" onClick={onWords}>
            {t("useWords")}
          </button>
        ) : null}
      </ErrorMessage>
    )
  }
  const { items } = result.state.value
  if (items.length === 0) {
    return (
      <EmptyState title={t("noResults", { query: q })}>
        <p>{t("startText")}</p>
      </EmptyState>
    )
  }
  return (
    <section aria-labelledby="results-heading">
      <h2 id="results-heading" aria-live="polite">
        {t("results", { count: formatNumber(language, items.length), query: q })}
      </h2>
      <ol className="search-hits">
        {items.map((hit) => (
          <li key={hit.email.id} data-email-id={hit.email.id}>
            <PriorityBadge email={hit.email} />{" "}
            <Link href={`/messages/${hit.email.id}`}>{hit.email.subject ?? "—"}</Link>
            <div className="hint">
              {hit.email.from.name ?? hit.email.from.address ?? ""} ·{" "}
              <time dateTime={hit.email.date.toISOString()}>{formatDateTime(language, hit.email.date)}</time>
            </div>
            <p>{hit.snippet === null ? t("noSnippet") : <Snippet snippet={hit.snippet} />}</p>
          </li>
        ))}
      </ol>
    </section>
  )
}
