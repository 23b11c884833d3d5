import { useVirtualizer } from "@tanstack/react-virtual"
import { type JSX, type KeyboardEvent, useEffect, useRef, useState } from "react"
import { useLocation } from "wouter"
import { formatDateTime, useLanguage, useStrings } from "../../i18n/index.ts"
import type { EmailSummary } from "../../pages/mail/types.ts"
import { categoryKey, mailStrings } from "./mail.i18n.ts"
import { PriorityBadge } from "./PriorityBadge.tsx"
import "./mail.css"

const ROW_HEIGHT = 64

export interface MessageListProps {
  readonly items: ReadonlyArray<EmailSummary>
  readonly hasMore: boolean
  readonly loading: boolean
  readonly onEndReached: () => void
  /** Per thread id: how many loaded messages share it (when threads are grouped). */
  readonly threadCounts?: ReadonlyMap<string, number> | undefined
  readonly label?: string | undefined
  /** The `e` key: archives the selected message (absent: no archive key on this list). */
  readonly onArchive?: ((email: EmailSummary) => void) | undefined
}

/**
 * A virtualised list (only the rows in view are in the DOM, so 10,000 messages cost what 20 do):
 * a listbox with roving selection. j / k (and the arrow keys) move, Enter opens the message. The
 * next page is asked for when the last rows come into view.
 */
export function MessageList({
  items,
  hasMore,
  loading,
  onEndReached,
  threadCounts,
  label,
  onArchive
}: MessageListProps): JSX.Element {
  const t = useStrings(mailStrings)
  const language = useLanguage()
  const [, navigate] = useLocation()
  const scroller = useRef<HTMLDivElement>(null)
  const [selected, setSelected] = useState(0)
  const count = items.length + (hasMore ? 1 : 0)
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    // the list's size before it is measured (mail.css: the viewport less ~16rem, at least 18rem), so
    // the first render already has the visible rows; without it the first pass rendered none and the
    // rows came with a second render after the layout effect measured the list
    initialRect: { width: 0, height: Math.max(288, window.innerHeight - 256) }
  })
  const virtualRows = virtualizer.getVirtualItems()
  const lastIndex = virtualRows.at(-1)?.index ?? 0

  useEffect(() => {
    if (hasMore && !loading && lastIndex >= items.length - 20) onEndReached()
  }, [hasMore, loading, lastIndex, items.length, onEndReached])

  // a shorter list (new filters) keeps the selection inside it
  useEffect(() => {
    if (selected > 0 && selected >= items.length) setSelected(Math.max(0, items.length - 1))
  }, [items.length, selected])

  const move = (to: number) => {
    const next = Math.max(0, Math.min(items.length - 1, to))
    setSelected(next)
    virtualizer.scrollToIndex(next, { align: "auto" })
  }
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return
    if (event.key === "j" || event.key === "ArrowDown") move(selected + 1)
    else if (event.key === "k" || event.key === "ArrowUp") move(selected - 1)
    else if (event.key === "Home") move(0)
    else if (event.key === "End") move(items.length - 1)
    else if (event.key === "e" && onArchive !== undefined) {
      const email = items[selected]
      if (email !== undefined) onArchive(email)
    } else if (event.key === "Enter") {
      const email = items[selected]
      if (email !== undefined) navigate(`/messages/${email.id}`)
    } else return
    event.preventDefault()
  }
  const selectedEmail = items[selected]

  return (
    <div className="message-list-wrap">
      <p className="hint" id="message-list-keys">
        {onArchive === undefined ? t("keyboardHint") : t("keyboardHintArchive")}
      </p>
      <div
        ref={scroller}
        className="message-list"
        role="listbox"
        tabIndex={0}
        aria-label={label ?? t("listLabel")}
        aria-describedby="message-list-keys"
        aria-activedescendant={selectedEmail === undefined ? undefined : `message-row-${selectedEmail.id}`}
        onKeyDown={onKeyDown}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualRows.map((row) => {
            const email = items[row.index]
            const style = { height: row.size, transform: `translateY(${row.start}px)` }
            if (email === undefined) {
              return (
                <div key="more" className="message-row message-row-more" style={style} aria-hidden="true">
                  {t("loadingMore")}
                </div>
              )
            }
            const inThread = threadCounts?.get(email.threadId) ?? 1
            const sender = email.from.name ?? email.from.address ?? t("unknownSender")
            return (
              // keys are handled by the listbox (aria-activedescendant); a click selects and opens
              // biome-ignore lint/a11y/useKeyWithClickEvents: the listbox's onKeyDown covers Enter
              <div
                key={email.id}
                tabIndex={-1}
                id={`message-row-${email.id}`}
                role="option"
                aria-selected={row.index === selected}
                aria-setsize={hasMore ? -1 : items.length}
                aria-posinset={row.index + 1}
                className={`message-row${email.seen ? "" : " unread"}${row.index === selected ? " selected" : ""}`}
                style={style}
                data-email-id={email.id}
                onClick={() => {
                  setSelected(row.index)
                  navigate(`/messages/${email.id}`)
                }}
              >
                <PriorityBadge email={email} />
                <div className="message-row-main">
                  <div className="message-row-top">
                    <span className="sender">{sender}</span>
                    <time dateTime={email.date.toISOString()}>{formatDateTime(language, email.date)}</time>
                  </div>
                  <div className="message-row-subject">
                    {email.seen ? null : <span className="visually-hidden">{t("unread")}: </span>}
                    {email.subject ?? t("noSubject")}
                    {inThread > 1 ? <span className="badge">{t("thread", { count: inThread })}</span> : null}
                  </div>
                  <div className="message-row-meta">
                    {email.category === null ? null : <CategoryBadge category={email.category} />}
                    {email.flagged ? <span className="badge">{t("flagged")}</span> : null}
                    {email.hasAttachments ? <span className="badge">{t("attachment")}</span> : null}
                    {email.summary === null ? null : <span className="summary">{email.summary}</span>}
                  </div>
                </div>
              </div>
            )
          })}
        </div>
      </div>
    </div>
  )
}

function CategoryBadge({ category }: { readonly category: string }): JSX.Element {
  const t = useStrings(mailStrings)
  const key = categoryKey(category)
  return <span className="badge">{key === undefined ? category : t(key)}</span>
}
