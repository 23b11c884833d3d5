import { defineStrings } from "../i18n/index.ts"

export const accountsStrings = defineStrings(
  "accounts",
  {
    title: "Mail accounts",
    empty: "No mail account connected yet",
    emptyHint: "Connect your first IMAP account below: mail-helper checks the login, then fetches and sorts your mail.",
    connectTitle: "Connect an IMAP account",
    connected: "Connected {{label}}. Press “Sync now” to fetch its mail.",
    account: "Account",
    status: "State",
    lastSynced: "Last sync",
    never: "not yet",
    sync: "Sync",
    details: "Details and settings",
    detailsNamed: "Details and settings of {{label}}",
    status_active: "active",
    status_auth_failed: "login refused",
    status_unreachable: "unreachable",
    status_disabled: "disabled",
    failed: "The accounts could not be loaded.",
    loading: "Loading…"
  },
  {
    title: "E-Mail-Konten",
    empty: "Noch kein E-Mail-Konto verbunden",
    emptyHint:
      "Verbinden Sie unten Ihr erstes IMAP-Konto: mail-helper prüft die Anmeldung, dann holt und sortiert es Ihre Mail.",
    connectTitle: "IMAP-Konto verbinden",
    connected: "{{label}} ist verbunden. Mit „Jetzt abrufen“ holen Sie die Mail.",
    account: "Konto",
    status: "Zustand",
    lastSynced: "Letzter Abruf",
    never: "noch nicht",
    sync: "Abrufen",
    details: "Details und Einstellungen",
    detailsNamed: "Details und Einstellungen von {{label}}",
    status_active: "aktiv",
    status_auth_failed: "Anmeldung abgelehnt",
    status_unreachable: "nicht erreichbar",
    status_disabled: "deaktiviert",
    failed: "Die Konten konnten nicht geladen werden.",
    loading: "Wird geladen…"
  }
)
