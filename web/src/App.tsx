import { type ComponentType, type JSX, lazy, Suspense, useEffect } from "react"
import { Route, Switch, useLocation } from "wouter"
import { Layout } from "./components/Layout.tsx"
import { NotFoundPage } from "./pages/NotFoundPage.tsx"
import { SessionProvider, useSession } from "./session.tsx"

// Each page is its own chunk, loaded when first opened: the first screen downloads the shell and one
// page, not every page (the budget is initial JavaScript; see web/README or the build output).
const AccountDetailPage = lazy(() =>
  import("./pages/AccountDetailPage.tsx").then((module) => ({ default: module.AccountDetailPage }))
)
const AccountsPage = lazy(() => import("./pages/AccountsPage.tsx").then((module) => ({ default: module.AccountsPage })))
const AdminPage = lazy(() => import("./pages/AdminPage.tsx").then((module) => ({ default: module.AdminPage })))
const InboxPage = lazy(() => import("./pages/InboxPage.tsx").then((module) => ({ default: module.InboxPage })))
const JobsPage = lazy(() => import("./pages/JobsPage.tsx").then((module) => ({ default: module.JobsPage })))
const MatrixPage = lazy(() => import("./pages/MatrixPage.tsx").then((module) => ({ default: module.MatrixPage })))
const MessagePage = lazy(() => import("./pages/MessagePage.tsx").then((module) => ({ default: module.MessagePage })))
const RegisterPage = lazy(() => import("./pages/RegisterPage.tsx").then((module) => ({ default: module.RegisterPage })))
const RuleEditPage = lazy(() => import("./pages/RuleEditPage.tsx").then((module) => ({ default: module.RuleEditPage })))
const RulesPage = lazy(() => import("./pages/RulesPage.tsx").then((module) => ({ default: module.RulesPage })))
const SearchPage = lazy(() => import("./pages/SearchPage.tsx").then((module) => ({ default: module.SearchPage })))
const SessionsPage = lazy(() => import("./pages/SessionsPage.tsx").then((module) => ({ default: module.SessionsPage })))
const SignInPage = lazy(() => import("./pages/SignInPage.tsx").then((module) => ({ default: module.SignInPage })))

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
        <Suspense fallback={<p aria-busy="true" className="loading" />}>
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
        </Suspense>
      </Layout>
    </SessionProvider>
  )
}
