import { useEffect, useState } from "react"
import { type ApiResult, callApi } from "../../api/client.ts"
import type { QueryState } from "../../api/useApiQuery.ts"
import type { AccountView } from "./types.ts"

type AccountList = { readonly items: ReadonlyArray<AccountView> }

let inFlight: Promise<ApiResult<AccountList>> | undefined

/**
 * `GET /accounts`, one request for every caller that asks while it is on its way: the inbox's
 * account filter and the `e` key's Archive check (useArchive) both want the list when the inbox
 * mounts, which was two identical requests on every first render. Nothing is kept once it answers
 * (a later caller asks again, so a connected or removed account shows).
 */
export const loadAccounts = (): Promise<ApiResult<AccountList>> => {
  if (inFlight !== undefined) return inFlight
  const call = callApi("accounts", (accounts) => accounts.list())
  inFlight = call
  void call.then(() => {
    if (inFlight === call) inFlight = undefined
  })
  return call
}

/** The account list as a page's state (loadAccounts, so shared with the other callers of the moment). */
export const useAccounts = (): QueryState<AccountList> => {
  const [state, setState] = useState<QueryState<AccountList>>({ status: "loading" })
  useEffect(() => {
    let current = true
    void loadAccounts().then((result) => {
      if (current)
        setState(result.ok ? { status: "ok", value: result.value } : { status: "error", failure: result.failure })
    })
    return () => {
      current = false
    }
  }, [])
  return state
}
