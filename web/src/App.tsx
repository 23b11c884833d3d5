import { type ComponentType, type JSX, useEffect } from "react"
import { Route, Switch, useLocation } from "wouter"
import { Layout } from "./components/Layout.tsx"
import { AccountDetailPage } from "./pages/AccountDetailPage.tsx"
import { AccountsPage } from "./pages/AccountsPage.tsx"
import { AdminPage } from "./pages/AdminPage.tsx"
import { InboxPage } from "./pages/InboxPage.tsx"
import { JobsPage } from "./pages/JobsPage.tsx"
import { MatrixPage } from "./pages/MatrixPage.tsx"
import { MessagePage } from "./pages/MessagePage.tsx"
import { NotFoundPage } from "./pages/NotFoundPage.tsx"
import { RegisterPage } from "./pages/RegisterPage.tsx"
import { RuleEditPage } from "./pages/RuleEditPage.tsx"
import { RulesPage } from "./pages/RulesPage.tsx"
import { SearchPage } from "./pages/SearchPage.tsx"
import { SessionsPage } from "./pages/SessionsPage.tsx"
import { SignInPage } from "./pages/SignInPage.tsx"
import { SessionProvider, useSession } from "./session.tsx"

/**
 * Every route of the app. The server answers these paths with index.html (src/webapp), so a
 * reload or a shared link lands here. Route parameters are read by the pages with wouter's
 * `useParams` (`/messages/:id`, `/rules/:id`, `/accounts/:id`).
 */
export const routes: ReadonlyArray<{
  readonly path: string
  readonly page: ComponentType
  readonly access: "public" | "signed-in" | "admin"
}> = [
  { path: "/sign-in", page: SignInPage, access: "public" },
  { path: "/register", page: RegisterPage, access: "public" },
  { path: "/", page: InboxPage, access: "signed-in" },
  { path: "/matrix", page: MatrixPage, access: "signed-in" },
  { path: "/messages/:id", page: MessagePage, access: "signed-in" },
  { path: "/search", page: SearchPage, access: "signed-in" },
  { path: "/rules", page: RulesPage, access: "signed-in" },
  { path: "/rules/new", page: RuleEditPage, access: "signed-in" },
  { path: "/rules/:id", page: RuleEditPage, access: "signed-in" },
  { path: "/accounts", page: AccountsPage, access: "signed-in" },
  { path: "/accounts/:id", page: AccountDetailPage, access: "signed-in" },
  { path: "/jobs", page: JobsPage, access: "signed-in" },
  { path: "/sessions", page: SessionsPage, access: "signed-in" },
  { path: "/admin", page: AdminPage, access: "admin" }
]

/** Sends a signed-out visitor to sign-in, remembering where they were going. */
function RequireSignIn({
  page: Page,
  admin
}: {
  readonly page: ComponentType
  readonly admin: boolean
}): JSX.Element | null {
  const { session } = useSession()
  const [location, navigate] = useLocation()
  const signedOut = session.status === "signed-out"
  useEffect(() => {
    if (signedOut) navigate(`/sign-in?next=${encodeURIComponent(location)}`, { replace: true })
  }, [signedOut, location, navigate])
  if (session.status !== "signed-in") return null
  if (admin && session.me.role !== "admin") return <NotFoundPage />
  return <Page />
}

export function App(): JSX.Element {
  return (
    <SessionProvider>
      <Layout>
        <Switch>
          {routes.map(({ path, page: Page, access }) => (
            <Route key={path} path={path}>
              {access === "public" ? <Page /> : <RequireSignIn page={Page} admin={access === "admin"} />}
            </Route>
          ))}
          <Route>
            <NotFoundPage />
          </Route>
        </Switch>
      </Layout>
    </SessionProvider>
  )
}
