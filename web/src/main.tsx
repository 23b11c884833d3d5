import { StrictMode } from "react"
import { createRoot } from "react-dom/client"
import { prefetchEmailPage } from "./api/boot.ts"
import { App, preloadRoute } from "./App.tsx"
import { initI18n } from "./i18n/index.ts"
import { inboxFirstPageSize } from "./pages/mail/useEmailPages.ts"
import { inboxQuery, noFilters } from "./pages/mail/inboxFilters.ts"
import "./styles.css"

const container = document.getElementById("root")
if (container === null) throw new Error("index.html has no #root element")

// The first screen's work, all at once: the session check started with session.tsx's import; here
// the page's chunk and, on the inbox, its first page of mail (api/boot.ts). React renders meanwhile.
const firstPage = preloadRoute(window.location.pathname)
if (window.location.pathname === "/" && window.location.search === "") {
  prefetchEmailPage({ ...inboxQuery(noFilters, null), limit: inboxFirstPageSize })
}

// React renders once the first page's chunk is there: a page that suspends shows the Suspense fallback,
// and React 19 then keeps it on screen for at least 300 ms, even when the chunk arrives a few ms
// later (bench/webapp.ts: the inbox's first render waited ~300 ms with nothing to do)
void Promise.all([initI18n(), firstPage]).then(() => {
  createRoot(container).render(
    <StrictMode>
      <App />
    </StrictMode>
  )
})
