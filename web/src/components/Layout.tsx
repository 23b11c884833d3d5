import { type JSX, type ReactNode, useEffect, useRef } from "react"
import { Link, useLocation } from "wouter"
import { callApi } from "../api/client.ts"
import { type Language, languages, setLanguage, useLanguage, useStrings } from "../i18n/index.ts"
import { useSession } from "../session.tsx"
import { layoutStrings } from "./Layout.i18n.ts"

const languageNames: Record<Language, string> = { en: "English", de: "Deutsch" }

export function LanguageSwitch(): JSX.Element {
  const t = useStrings(layoutStrings)
  const language = useLanguage()
  return (
    <label className="language-switch">
      <span>{t("language")}</span>
      <select
        value={language}
        onChange={(event) => {
          const chosen = languages.find((candidate) => candidate === event.currentTarget.value)
          if (chosen !== undefined) setLanguage(chosen)
        }}
      >
        {languages.map((candidate) => (
          <option key={candidate} value={candidate} lang={candidate}>
            {languageNames[candidate]}
          </option>
        ))}
      </select>
    </label>
  )
}

function NavLink({ href, children }: { readonly href: string; readonly children: ReactNode }): JSX.Element {
  const [location] = useLocation()
  const current = href === "/" ? location === "/" : location === href || location.startsWith(`${href}/`)
  return (
    <Link href={href} aria-current={current ? "page" : undefined}>
      {children}
    </Link>
  )
}

/** The frame of every page: skip link, navigation, language switch, sign-out, then the page. */
export function Layout({ children }: { readonly children: ReactNode }): JSX.Element {
  const t = useStrings(layoutStrings)
  const { session, refresh } = useSession()
  const [location, navigate] = useLocation()
  const mainRef = useRef<HTMLElement>(null)
  const firstLocation = useRef(location)
  // after a navigation, keyboard and screen-reader users continue at the new page, not in the menu
  useEffect(() => {
    if (location !== firstLocation.current) mainRef.current?.focus()
  }, [location])
  const signOut = async () => {
    await callApi("auth", (auth) => auth.logout())
    await refresh()
    navigate("/sign-in")
  }
  return (
    <div className="app">
      <a className="skip-link" href="#main">
        {t("skipToContent")}
      </a>
      <header className="app-header">
        <Link href="/" className="brand">
          mail-helper
        </Link>
        {session.status === "signed-in" ? (
          <nav aria-label={t("mainNavigation")} className="main-nav">
            <NavLink href="/">{t("inbox")}</NavLink>
            <NavLink href="/matrix">{t("matrix")}</NavLink>
            <NavLink href="/search">{t("search")}</NavLink>
            <NavLink href="/rules">{t("rules")}</NavLink>
            <NavLink href="/accounts">{t("accounts")}</NavLink>
            <NavLink href="/jobs">{t("jobs")}</NavLink>
            <NavLink href="/sessions">{t("sessions")}</NavLink>
            {session.me.role === "admin" ? <NavLink href="/admin">{t("admin")}</NavLink> : null}
          </nav>
        ) : null}
        <div className="header-tools">
          <LanguageSwitch />
          {session.status === "signed-in" ? (
            <>
              <span className="who">{t("signedInAs", { email: session.me.email })}</span>
              <button type="button" onClick={() => void signOut()}>
                {t("signOut")}
              </button>
            </>
          ) : null}
        </div>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {session.status === "loading" ? <p aria-busy="true">{t("loading")}</p> : children}
      </main>
    </div>
  )
}
