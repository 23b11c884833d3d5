import { type JSX, useEffect, useState } from "react"
import { Link, useParams } from "wouter"
import { type ApiFailure, callApi } from "../api/client.ts"
import { useApiQuery } from "../api/useApiQuery.ts"
import { ArchiveStatus, useArchiveKey } from "../components/mail/ArchiveStatus.tsx"
import { CorrectionForm } from "../components/mail/CorrectionForm.tsx"
import { categoryKey, mailStrings } from "../components/mail/mail.i18n.ts"
import { MessageFrame } from "../components/mail/MessageFrame.tsx"
import { PriorityBadge } from "../components/mail/PriorityBadge.tsx"
import { EmptyState, ErrorMessage, Loading } from "../components/ui.tsx"
import { formatDateTime, formatNumber, type Translate, useLanguage, useStrings } from "../i18n/index.ts"
import { messageStrings } from "./MessagePage.i18n.ts"
import { emailIdFromRoute } from "./mail/ids.ts"
import type { EmailDetail, EmailId } from "./mail/types.ts"
import { useMailActivity } from "./mail/useMailActivity.ts"

type AddressList = EmailDetail["to"]

const addresses = (list: AddressList): string =>
  list
    .map((entry) => (entry.name === null ? (entry.address ?? "") : `${entry.name} <${entry.address ?? ""}>`))
    .join(", ")

/** One message: headers, the analysis and why it has its priority, the body in a locked frame, corrections. */
export function MessagePage(): JSX.Element {
  const t = useStrings(messageStrings)
  const params = useParams<{ id: string }>()
  const id = emailIdFromRoute(params.id)
  if (id === null) {
    return (
      <EmptyState title={t("title")}>
        <p>{t("notFound")}</p>
        <Link href="/">{t("back")}</Link>
      </EmptyState>
    )
  }
  return <MessageView id={id} />
}

function MessageView({ id }: { readonly id: EmailId }): JSX.Element {
  const t = useStrings(messageStrings)
  const language = useLanguage()
  const query = useApiQuery("emails", (emails) => emails.get({ params: { id } }), [id])
  const [email, setEmail] = useState<EmailDetail | null>(null)
  useEffect(() => {
    if (query.state.status === "ok") setEmail(query.state.value)
  }, [query.state])
  // a pending analysis shows up without a reload
  useMailActivity(() => {
    if (email !== null && email.analysisState === "pending") query.reload()
  })
  const archiveKey = useArchiveKey()
  const { request: requestArchive } = archiveKey
  // `e` anywhere on the page but in a form control archives the message
  useEffect(() => {
    if (email === null) return
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== "e" || event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return
      const target = event.target
      if (
        target instanceof HTMLElement &&
        (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))
      ) {
        return
      }
      event.preventDefault()
      void requestArchive(email)
    }
    document.addEventListener("keydown", onKey)
    return () => document.removeEventListener("keydown", onKey)
  }, [email, requestArchive])

  if (query.state.status === "error" && email === null) {
    return (
      <>
        <h1>{t("title")}</h1>
        <ErrorMessage failure={query.state.failure}>
          {query.state.failure.tag === "EmailNotFound" ? t("notFound") : t("failed")}
        </ErrorMessage>
        <Link href="/">{t("back")}</Link>
      </>
    )
  }
  if (email === null) return <Loading label={t("loading")} />
  return (
    <article aria-labelledby="message-subject">
      <p>
        <Link href="/">{t("back")}</Link>
      </p>
      <h1 id="message-subject">{email.subject ?? "—"}</h1>
      <dl className="facts">
        <dt>{t("from")}</dt>
        <dd>{addresses([email.from])}</dd>
        {email.to.length > 0 ? (
          <>
            <dt>{t("to")}</dt>
            <dd>{addresses(email.to)}</dd>
          </>
        ) : null}
        {email.cc.length > 0 ? (
          <>
            <dt>{t("cc")}</dt>
            <dd>{addresses(email.cc)}</dd>
          </>
        ) : null}
        <dt>{t("date")}</dt>
        <dd>
          <time dateTime={email.date.toISOString()}>{formatDateTime(language, email.date)}</time>
        </dd>
        <dt>{t("folders")}</dt>
        <dd data-testid="message-folders">{email.copies.map((copy) => copy.mailboxPath).join(", ")}</dd>
      </dl>
      <p>
        <Link href={`/?thread=${encodeURIComponent(email.threadId)}`}>{t("thread")}</Link>
      </p>
      <ArchiveButton
        archived={archiveKey.archivedIds.has(email.id)}
        available={archiveKey.canArchive(email.accountId)}
        onArchive={() => void requestArchive(email)}
      />
      <ArchiveStatus note={archiveKey.note} />
      <AnalysisSection email={email} t={t} />
      <CorrectionForm key={email.id} email={email} onSaved={setEmail} />
      <section aria-labelledby="body-heading">
        <h2 id="body-heading">{t("body")}</h2>
        {email.html !== null ? (
          <MessageFrame
            html={email.html}
            language={language}
            title={t("frameTitle")}
            blockedNotice={(count) => t("remoteBlocked", { count: formatNumber(language, count) })}
            loadImagesLabel={t("loadImages")}
          />
        ) : email.text !== null ? (
          <div className="message-text">{email.text}</div>
        ) : (
          <p>{t("noBody")}</p>
        )}
      </section>
      <section aria-labelledby="attachments-heading">
        <h2 id="attachments-heading">{t("attachments")}</h2>
        {email.attachments.length === 0 ? (
          <p>{t("noAttachments")}</p>
        ) : (
          <ul>
            {email.attachments.map((attachment) => (
              <li key={attachment.id}>
                {attachment.filename ?? t("unnamed")} · {attachment.contentType} ·{" "}
                {new Intl.NumberFormat(language, { style: "unit", unit: "kilobyte", maximumFractionDigits: 1 }).format(
                  attachment.size / 1024
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
      <Reprocess id={email.id} />
      <Similar id={email.id} />
    </article>
  )
}

/** The archive action; off (with the reason as its description) when the account has no Archive folder. */
function ArchiveButton({
  archived,
  available,
  onArchive
}: {
  readonly archived: boolean
  readonly available: boolean | undefined
  readonly onArchive: () => void
}): JSX.Element {
  const m = useStrings(mailStrings)
  return (
    <p>
      <button
        type="button"
        className="secondary"
        aria-keyshortcuts="e"
        disabled={available !== true || archived}
        aria-describedby={available === false ? "archive-off" : undefined}
        onClick={onArchive}
      >
        {m("archive")}
      </button>
      {available === false ? (
        <span id="archive-off" className="hint">
          {" "}
          {m("noArchive")}
        </span>
      ) : null}
    </p>
  )
}

function AnalysisSection({
  email,
  t
}: {
  readonly email: EmailDetail
  readonly t: Translate<typeof messageStrings.en>
}): JSX.Element {
  const m = useStrings(mailStrings)
  const language = useLanguage()
  const category = email.category === null ? undefined : categoryKey(email.category)
  const levelName = (level: number | null | undefined) =>
    level === 1 ? m("level_1") : level === 2 ? m("level_2") : level === 3 ? m("level_3") : "—"
  const source = (field: string, corrected: boolean, ai: number | null | undefined) =>
    corrected ? t("fromCorrection", { field, ai: levelName(ai) }) : t("fromAnalysis", { field })
  return (
    <section aria-labelledby="analysis-heading">
      <h2 id="analysis-heading">{t("analysis")}</h2>
      {email.analysisState === "pending" ? <p className="notice">{t("pending")}</p> : null}
      {email.analysisState === "failed" ? (
        <ErrorMessage>{t("analysisFailed", { error: email.analysisError ?? "" })}</ErrorMessage>
      ) : null}
      <dl className="facts">
        <dt>{t("priority")}</dt>
        <dd data-testid="message-priority">
          <PriorityBadge email={email} /> {email.score === null ? "" : `${email.score} / 9`}
        </dd>
        <dt>{t("priorityWhy")}</dt>
        <dd>
          {email.score === null ? (
            "—"
          ) : (
            <ul>
              <li>
                {t("priorityFormula", {
                  score: email.score,
                  urgency: `${email.urgency ?? "—"} (${levelName(email.urgency)})`,
                  importance: `${email.importance ?? "—"} (${levelName(email.importance)})`
                })}
              </li>
              <li>{source(t("urgency"), email.overrides?.urgency != null, email.analysis?.urgency)}</li>
              <li>{source(t("importance"), email.overrides?.importance != null, email.analysis?.importance)}</li>
              {email.analysis === null ? null : (
                <li>
                  {t("analysedBy", {
                    provider: email.analysis.provider,
                    model: email.analysis.model,
                    date: formatDateTime(language, email.analysis.analysedAt),
                    confidence: new Intl.NumberFormat(language, { style: "percent" }).format(email.analysis.confidence)
                  })}
                </li>
              )}
            </ul>
          )}
        </dd>
        <dt>{t("summary")}</dt>
        <dd>{email.summary ?? "—"}</dd>
        <dt>{t("category")}</dt>
        <dd>{email.category === null ? "—" : category === undefined ? email.category : m(category)}</dd>
        <dt>{t("tags")}</dt>
        <dd>{email.tags.length === 0 ? t("noTags") : email.tags.join(", ")}</dd>
        <dt>{t("spam")}</dt>
        <dd>{email.spam === null ? "—" : email.spam ? t("yes") : t("no")}</dd>
      </dl>
    </section>
  )
}

function Reprocess({ id }: { readonly id: EmailId }): JSX.Element {
  const t = useStrings(messageStrings)
  const [state, setState] = useState<
    | { readonly kind: "idle" | "busy" }
    | { readonly kind: "queued"; readonly jobId: string }
    | { readonly kind: "failed"; readonly failure: ApiFailure }
  >({ kind: "idle" })
  const run = async () => {
    setState({ kind: "busy" })
    const result = await callApi("emails", (emails) => emails.reprocess({ params: { id } }))
    setState(result.ok ? { kind: "queued", jobId: result.value.jobId } : { kind: "failed", failure: result.failure })
  }
  return (
    <section aria-labelledby="reprocess-heading">
      <h2 id="reprocess-heading">{t("reprocess")}</h2>
      <p className="hint">{t("reprocessHint")}</p>
      <button type="button" className="secondary" disabled={state.kind === "busy"} onClick={() => void run()}>
        {t("reprocess")}
      </button>
      <div aria-live="polite">
        {state.kind === "queued" ? (
          <p className="notice">
            {t("reprocessQueued", { id: state.jobId })} <Link href="/jobs">{t("jobs")}</Link>
          </p>
        ) : null}
        {state.kind === "failed" ? <ErrorMessage failure={state.failure}>{t("reprocessFailed")}</ErrorMessage> : null}
      </div>
    </section>
  )
}

function Similar({ id }: { readonly id: EmailId }): JSX.Element {
  const t = useStrings(messageStrings)
  const language = useLanguage()
  const similar = useApiQuery("emails", (emails) => emails.similar({ params: { id }, query: { limit: 5 } }), [id])
  return (
    <section aria-labelledby="similar-heading">
      <h2 id="similar-heading">{t("similar")}</h2>
      {similar.state.status === "loading" ? <Loading label={t("loading")} /> : null}
      {similar.state.status === "error" ? (
        <p className="hint">{t("similarUnavailable", { reason: similar.state.failure.message })}</p>
      ) : null}
      {similar.state.status === "ok" ? (
        similar.state.value.items.length === 0 ? (
          <p>{t("noSimilar")}</p>
        ) : (
          <ul>
            {similar.state.value.items.map(({ email, score }) => (
              <li key={email.id}>
                <Link href={`/messages/${email.id}`}>{email.subject ?? "—"}</Link> ·{" "}
                {new Intl.NumberFormat(language, { style: "percent" }).format(score)}
              </li>
            ))}
          </ul>
        )
      ) : null}
    </section>
  )
}
