import { useCallback, useEffect, useRef, useState } from "react"
import { takeEmailPage } from "../../api/boot.ts"
import { type ApiFailure, callApi } from "../../api/client.ts"
import type { EmailListQuery, EmailSummary } from "./types.ts"

export type PagedEmails = {
  readonly items: ReadonlyArray<EmailSummary>
  /** False once the API said there is no next page. */
  readonly hasMore: boolean
  readonly loading: boolean
  readonly failure: ApiFailure | null
  /** Asks for the next page unless one is already on its way or there is none. */
  readonly loadMore: () => void
  /** Starts over from the first page (new mail, a correction). */
  readonly refresh: () => void
}

type Query = NonNullable<EmailListQuery>

/**
 * Cursor paging over `GET /emails`: one page at a time, the next asked for when the list nears its
 * end. A change of query (or `refresh`) starts a new generation; answers of an older generation are
 * dropped, so a slow page never lands in the wrong list.
 */
/** Messages per page of the inbox after the first. */
export const inboxPageSize = 100

/**
 * Messages in the first page of a list (main.tsx prefetches it, and the server announces the same
 * URL with the HTML: src/webapp/WebApp.ts). A screen shows ~10-15 rows and the list renders 10 more;
 * 50 is that with room before the next page is asked for. The first page is what the first render
 * waits for: the server's answer, and the decode of every message through the contract's schema
 * (~0.4 ms per message on this machine), so 100 cost twice the decode for rows nobody sees yet.
 */
export const inboxFirstPageSize = 50

export const useEmailPages = (
  query: Query,
  pageSize = inboxPageSize,
  firstPageSize = inboxFirstPageSize
): PagedEmails => {
  const key = JSON.stringify(query)
  const [items, setItems] = useState<ReadonlyArray<EmailSummary>>([])
  const [hasMore, setHasMore] = useState(true)
  const [loading, setLoading] = useState(false)
  const [failure, setFailure] = useState<ApiFailure | null>(null)
  const [generation, setGeneration] = useState(0)
  const cursor = useRef<string | null>(null)
  const inFlight = useRef<AbortController | null>(null)
  const current = useRef({ key, generation })
  const latestQuery = useRef(query)
  latestQuery.current = query

  const fetchPage = useCallback(
    (first: boolean) => {
      if (!first && (inFlight.current !== null || cursor.current === null)) return
      inFlight.current?.abort()
      const controller = new AbortController()
      inFlight.current = controller
      const requested = current.current
      setLoading(true)
      const pageQuery: Query = {
        ...latestQuery.current,
        limit: first ? firstPageSize : pageSize,
        ...(first || cursor.current === null ? {} : { cursor: cursor.current })
      }
      const ask = () => callApi("emails", (emails) => emails.list({ query: pageQuery }), controller.signal)
      // the first page of the first screen may be on its way already (api/boot.ts)
      const prefetched = first ? takeEmailPage(pageQuery) : undefined
      const answer = prefetched === undefined ? ask() : prefetched.then((result) => (result.ok ? result : ask()))
      void answer.then((result) => {
        if (controller.signal.aborted || requested !== current.current) return
        inFlight.current = null
        setLoading(false)
        if (!result.ok) {
          setFailure(result.failure)
          return
        }
        setFailure(null)
        cursor.current = result.value.nextCursor
        setHasMore(result.value.nextCursor !== null)
        setItems((before) => (first ? result.value.items : [...before, ...result.value.items]))
      })
    },
    [pageSize, firstPageSize]
  )

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new key or generation starts over
  useEffect(() => {
    current.current = { key, generation }
    cursor.current = null
    setHasMore(true)
    fetchPage(true)
    return () => {
      inFlight.current?.abort()
      inFlight.current = null
    }
  }, [key, generation])

  const loadMore = useCallback(() => fetchPage(false), [fetchPage])
  const refresh = useCallback(() => setGeneration((n) => n + 1), [])
  return { items, hasMore, loading, failure, loadMore, refresh }
}
