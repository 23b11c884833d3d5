import type { Effect } from "effect"
import { type DependencyList, useCallback, useEffect, useRef, useState } from "react"
import { type ApiClient, type ApiFailure, type ApiGroupName, callApi } from "./client.ts"

export type QueryState<A> =
  | { readonly status: "loading" }
  | { readonly status: "ok"; readonly value: A }
  | { readonly status: "error"; readonly failure: ApiFailure }

/**
 * Loads once per change of `deps` and on `reload()`; a load the page no longer needs (unmounted, or
 * superseded by a newer one) is aborted, so an old answer never overwrites a newer one.
 */
export const useApiQuery = <Name extends ApiGroupName, A, E>(
  group: Name,
  call: (client: ApiClient[Name]) => Effect.Effect<A, E>,
  deps: DependencyList
): { readonly state: QueryState<A>; readonly reload: () => void } => {
  const [state, setState] = useState<QueryState<A>>({ status: "loading" })
  const [generation, setGeneration] = useState(0)
  const callRef = useRef(call)
  callRef.current = call
  // biome-ignore lint/correctness/useExhaustiveDependencies: deps are the caller's, plus reload's generation
  useEffect(() => {
    const controller = new AbortController()
    void callApi(group, callRef.current, controller.signal).then((result) => {
      if (controller.signal.aborted) return
      setState(result.ok ? { status: "ok", value: result.value } : { status: "error", failure: result.failure })
    })
    return () => controller.abort()
  }, [...deps, generation])
  const reload = useCallback(() => setGeneration((n) => n + 1), [])
  return { state, reload }
}
