import type { JSX, ReactNode } from "react"
import type { ApiFailure } from "../api/client.ts"

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
