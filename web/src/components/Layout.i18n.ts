import { defineStrings } from "../i18n/index.ts"

export const layoutStrings = defineStrings(
  "layout",
  {
    skipToContent: "Skip to content",
    mainNavigation: "Main navigation",
    inbox: "Inbox",
    matrix: "Priorities",
    search: "Search",
    rules: "Rules",
    accounts: "Accounts",
    jobs: "Jobs",
    sessions: "Sessions & tokens",
    admin: "Admin",
    signOut: "Sign out",
    signIn: "Sign in",
    register: "Register",
    language: "Language",
    signedInAs: "Signed in as {{email}}",
    menu: "Menu",
    loading: "Loading…"
  },
  {
    skipToContent: "Zum Inhalt springen",
    mainNavigation: "Hauptnavigation",
    inbox: "Posteingang",
    matrix: "Prioritäten",
    search: "Suche",
    rules: "Regeln",
    accounts: "Konten",
    jobs: "Aufträge",
    sessions: "Sitzungen & Tokens",
    admin: "Verwaltung",
    signOut: "Abmelden",
    signIn: "Anmelden",
    register: "Registrieren",
    language: "Sprache",
    signedInAs: "Angemeldet als {{email}}",
    menu: "Menü",
    loading: "Wird geladen…"
  }
)
