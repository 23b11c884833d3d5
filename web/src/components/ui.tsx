import type { JSX, ReactNode } from "react"
import type { ApiFailure } from "../api/client.ts"
import type { QueryState } from "../api/useApiQuery.ts"

/** A failure as the server worded it; `role="alert"` so screen readers announce it. */
export function ErrorMessage({
  failure,
  children
}: {
  readonly failure?: ApiFailure | undefined
  readonly children?: ReactNode
}): JSX.Element {
  return (
    <div className="error" role="alert">
      {children}
      {failure !== undefined ? <p className="server-answer">{failure.message}</p> : null}
      {failure !== undefined && failure.issues.length > 0 ? (
        <ul>
          {failure.issues.map((issue) => (
            <li key={`${issue.path}:${issue.message}`}>
              <code>{issue.path}</code>: {issue.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  )
}

/** What to do next when there is nothing to show, instead of a blank page. */
export function EmptyState({
  title,
  children
}: {
  readonly title: string
  readonly children?: ReactNode
}): JSX.Element {
  return (
    <section className="empty-state" aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  )
}

export function Loading({ label }: { readonly label: string }): JSX.Element {
  return (
    <p className="loading" aria-busy="true">
      {label}
    </p>
  )
}

/** A progress bar with its number spelled out for assistive technology. */
export function ProgressBar({ value, label }: { readonly value: number; readonly label: string }): JSX.Element {
  const clamped = Math.max(0, Math.min(100, Math.round(value)))
  return (
    <div className="progress">
      <progress max={100} value={clamped} aria-label={label} />
      <span>{clamped}%</span>
    </div>
  )
}

/** A column heading; `hidden` ones are read to assistive technology only (e.g. over a column of buttons). */
export type TableHeading = string | { readonly hidden: string }

/** A table that scrolls sideways on narrow screens, with one row of column headings. */
export function DataTable({
  className,
  headings,
  children
}: {
  readonly className?: string
  readonly headings: ReadonlyArray<TableHeading>
  readonly children: ReactNode
}): JSX.Element {
  return (
    <div className="table-wrap">
      <table className={className}>
        <thead>
          <tr>
            {headings.map((heading) =>
              typeof heading === "string" ? (
                <th key={heading} scope="col">
                  {heading}
                </th>
              ) : (
                <th key={heading.hidden} scope="col">
                  <span className="visually-hidden">{heading.hidden}</span>
                </th>
              )
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  )
}

/** A query's loading line while it loads, and the server's answer under `failedText` when it failed. */
export function QueryProgress({
  state,
  loadingLabel,
  failedText
}: {
  readonly state: QueryState<unknown>
  readonly loadingLabel: string
  readonly failedText: string
}): JSX.Element | null {
  if (state.status === "loading") return <Loading label={loadingLabel} />
  if (state.status === "error") return <ErrorMessage failure={state.failure}>{failedText}</ErrorMessage>
  return null
}

/** A labelled checkbox that reports its new state. */
export function CheckField({
  name,
  checked,
  onChange,
  children
}: {
  readonly name?: string
  readonly checked: boolean
  readonly onChange: (checked: boolean) => void
  readonly children: ReactNode
}): JSX.Element {
  return (
    <label className="check">
      <input
        type="checkbox"
        name={name}
        checked={checked}
        onChange={(event) => onChange(event.currentTarget.checked)}
      />
      {children}
    </label>
  )
}
