import { type JSX, Suspense, useEffect } from "react"
import { Route, Switch, useLocation } from "wouter"
import { Layout } from "./components/Layout.tsx"
import { type LazyPage, lazyPage, PageView } from "./lazyPage.tsx"
import { NotFoundPage } from "./pages/NotFoundPage.tsx"
import { SessionProvider, useSession } from "./session.tsx"

// Each page is its own chunk: the first screen downloads the shell and one page, not every page (the
// budget is initial JavaScript). Once a page is on screen the others are preloaded (see lazyPage.tsx),
// so a later page change renders without a Suspense fallback.
const AccountDetailPage = lazyPage(() => import("./pages/AccountDetailPage.tsx").then((m) => m.AccountDetailPage))
const AccountsPage = lazyPage(() => import("./pages/AccountsPage.tsx").then((m) => m.AccountsPage))
const AdminPage = lazyPage(() => import("./pages/AdminPage.tsx").then((m) => m.AdminPage))
const InboxPage = lazyPage(() => import("./pages/InboxPage.tsx").then((m) => m.InboxPage))
const JobsPage = lazyPage(() => import("./pages/JobsPage.tsx").then((m) => m.JobsPage))
const MatrixPage = lazyPage(() => import("./pages/MatrixPage.tsx").then((m) => m.MatrixPage))
const MessagePage = lazyPage(() => import("./pages/MessagePage.tsx").then((m) => m.MessagePage))
const RegisterPage = lazyPage(() => import("./pages/RegisterPage.tsx").then((m) => m.RegisterPage))
const RuleEditPage = lazyPage(() => import("./pages/RuleEditPage.tsx").then((m) => m.RuleEditPage))
const RulesPage = lazyPage(() => import("./pages/RulesPage.tsx").then((m) => m.RulesPage))
const SearchPage = lazyPage(() => import("./pages/SearchPage.tsx").then((m) => m.SearchPage))
const SessionsPage = lazyPage(() => import("./pages/SessionsPage.tsx").then((m) => m.SessionsPage))
const SignInPage = lazyPage(() => import("./pages/SignInPage.tsx").then((m) => m.SignInPage))

/**
 * Every route of the app. The server answers these paths with index.html (src/webapp), so a
 * reload or a shared link lands here. Route parameters are read by the pages with wouter's
 * `useParams` (`/messages/:id`, `/rules/:id`, `/accounts/:id`).
 */
export const routes: ReadonlyArray<{
  readonly path: string
  readonly page: LazyPage
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

const patternOf = (path: string): RegExp =>
  new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:\w+/g, "[^/]+")}/?$`)

/**
 * Starts loading the chunk of the page at `pathname` (the first route that matches, as the Switch
 * picks it), so it downloads while the session is checked rather than after.
 */
/** Starts loading the page of `pathname`; settles when it has loaded or failed (never rejects). */
export const preloadRoute = (pathname: string): Promise<void> => {
  const route = routes.find(({ path }) => patternOf(path).test(pathname))
  // a failed load is retried (and shown) when the page renders
  return route === undefined
    ? Promise.resolve()
    : route.page.preload().then(
        () => undefined,
        () => undefined
      )
}

/** Sends a signed-out visitor to sign-in, remembering where they were going. */
function RequireSignIn({ page, admin }: { readonly page: LazyPage; readonly admin: boolean }): JSX.Element | null {
  const { session } = useSession()
  const [location, navigate] = useLocation()
  const signedOut = session.status === "signed-out"
  useEffect(() => {
    if (signedOut) navigate(`/sign-in?next=${encodeURIComponent(location)}`, { replace: true })
  }, [signedOut, location, navigate])
  if (session.status !== "signed-in") return null
  if (admin && session.me.role !== "admin") return <NotFoundPage />
  return <PageView page={page} />
}

export function App(): JSX.Element {
  return (
    <SessionProvider>
      <Layout>
        <Suspense fallback={<p aria-busy="true" className="loading" />}>
          <Switch>
            {routes.map(({ path, page, access }) => (
              <Route key={path} path={path}>
                {access === "public" ? (
                  <PageView page={page} />
                ) : (
                  <RequireSignIn page={page} admin={access === "admin"} />
                )}
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
