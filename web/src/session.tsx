import { createContext, type JSX, type ReactNode, useCallback, useContext, useEffect, useState } from "react"
import { callApi, onUnauthorized } from "./api/client.ts"
import type { ApiClient } from "./api/client.ts"
import type { Effect } from "effect"

/** Who is signed in, as `GET /api/v1/auth/me` says. */
const meCall = (auth: ApiClient["auth"]) => auth.me()
export type Me = Effect.Success<ReturnType<typeof meCall>>

export type SessionState =
  | { readonly status: "loading" }
  | { readonly status: "signed-out" }
  | { readonly status: "signed-in"; readonly me: Me }

interface SessionContextValue {
  readonly session: SessionState
  /** Asks the server again (after sign-in, sign-out, or a 401). */
  readonly refresh: () => Promise<void>
}

const SessionContext = createContext<SessionContextValue | undefined>(undefined)

/** The first `GET /auth/me`, started when this module loads (with the entry script), not after the first render. */
let firstCheck: Promise<SessionState> | undefined = callApi("auth", (auth) => auth.me()).then(
  (result): SessionState => (result.ok ? { status: "signed-in", me: result.value } : { status: "signed-out" })
)

export function SessionProvider({ children }: { readonly children: ReactNode }): JSX.Element {
  const [session, setSession] = useState<SessionState>({ status: "loading" })
  const refresh = useCallback(async () => {
    const early = firstCheck
    firstCheck = undefined
    if (early !== undefined) {
      setSession(await early)
      return
    }
    const result = await callApi("auth", (auth) => auth.me())
    setSession(result.ok ? { status: "signed-in", me: result.value } : { status: "signed-out" })
  }, [])
  useEffect(() => {
    void refresh()
    return onUnauthorized(() => setSession({ status: "signed-out" }))
  }, [refresh])
  return <SessionContext.Provider value={{ session, refresh }}>{children}</SessionContext.Provider>
}

export const useSession = (): SessionContextValue => {
  const value = useContext(SessionContext)
  if (value === undefined) throw new Error("useSession outside SessionProvider")
  return value
}
