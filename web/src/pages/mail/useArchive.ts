import { Effect } from "effect"
import { useCallback, useEffect, useState } from "react"
import { type ApiResult, callApi } from "../../api/client.ts"
import { loadAccounts } from "./accountList.ts"
import type { AccountId, EmailId } from "./types.ts"

/** Which accounts have an Archive mailbox: loading, or the set of those that do. */
export type ArchiveTargets =
  | { readonly status: "loading" }
  | { readonly status: "ok"; readonly accounts: ReadonlySet<string> }

/**
 * The `e` key: whether a message's account has a special-use Archive mailbox (from the accounts'
 * mailbox lists, once per page; the account list is shared with the page's own, accountList.ts), and the archive call (`POST /emails/:id/archive`, a rules run
 * that moves the message on the server; 202 with its job).
 */
export const useArchive = (): {
  readonly targets: ArchiveTargets
  readonly canArchive: (accountId: AccountId | string) => boolean | undefined
  readonly archive: (id: EmailId) => Promise<ApiResult<unknown>>
} => {
  const [targets, setTargets] = useState<ArchiveTargets>({ status: "loading" })
  useEffect(() => {
    const controller = new AbortController()
    const archiveTargets = async (): Promise<ReadonlySet<string>> => {
      const accounts = await loadAccounts()
      if (!accounts.ok || controller.signal.aborted) return new Set()
      const lists = await callApi(
        "accounts",
        (client) =>
          Effect.forEach(
            accounts.value.items,
            (account) =>
              client
                .mailboxes({ params: { id: account.id } })
                .pipe(
                  Effect.map(({ items: boxes }) =>
                    boxes.some((box) => box.specialUse === "archive" && box.selectable) ? [account.id] : []
                  )
                ),
            { concurrency: 4 }
          ),
        controller.signal
      )
      return lists.ok ? new Set(lists.value.flat()) : new Set()
    }
    // unknown (the lists failed): every account counts as without Archive, the server decides anyway
    void archiveTargets().then((accounts) => {
      if (!controller.signal.aborted) setTargets({ status: "ok", accounts })
    })
    return () => controller.abort()
  }, [])
  const canArchive = useCallback(
    (accountId: string) => (targets.status === "loading" ? undefined : targets.accounts.has(accountId)),
    [targets]
  )
  const archive = useCallback((id: EmailId) => callApi("rules", (rules) => rules.archiveEmail({ params: { id } })), [])
  return { targets, canArchive, archive }
}
