import { defineStrings } from "../../i18n/index.ts"
import { categoryNames } from "../../pages/mail/categories.ts"
import type { CategoryName } from "../../pages/mail/types.ts"

/** Strings the mail components share (message list, priority badge, live updates). */
export const mailStrings = defineStrings(
  "mail",
  {
    noSubject: "(no subject)",
    unknownSender: "(unknown sender)",
    unread: "unread",
    flagged: "flagged",
    attachment: "has attachments",
    notAnalysed: "not analysed yet",
    analysisFailed: "analysis failed",
    bandRed: "high priority",
    bandYellow: "medium priority",
    bandGreen: "low priority",
    priority: "Priority {{score}} of 9",
    corrected: "corrected by you",
    listLabel: "Messages",
    loadingMore: "Loading more…",
    keyboardHint: "Keys: j / k to move, Enter to open.",
    keyboardHintArchive: "Keys: j / k to move, Enter to open, e to archive.",
    archive: "Archive (e)",
    archiving: "Moving “{{subject}}” to Archive…",
    archived: "“{{subject}}” is being moved to Archive (a rules run: undo it on the rules page).",
    noArchive:
      "Archive (e) is off for this message: its account has no Archive folder. Create a folder marked as Archive on the mail server, then sync.",
    archiveFailed: "Archiving failed: {{message}}",
    newMail: "{{count}} new or changed messages. Show them",
    category_work: "Work",
    category_personal: "Personal",
    category_finance: "Finance",
    category_shopping: "Shopping",
    category_travel: "Travel",
    category_newsletter: "Newsletter",
    category_notification: "Notification",
    category_social: "Social",
    category_security: "Security",
    category_other: "Other",
    level_1: "low",
    level_2: "medium",
    level_3: "high",
    thread: "{{count}} in conversation"
  },
  {
    noSubject: "(kein Betreff)",
    unknownSender: "(unbekannter Absender)",
    unread: "ungelesen",
    flagged: "markiert",
    attachment: "mit Anhängen",
    notAnalysed: "noch nicht analysiert",
    analysisFailed: "Analyse fehlgeschlagen",
    bandRed: "hohe Priorität",
    bandYellow: "mittlere Priorität",
    bandGreen: "niedrige Priorität",
    priority: "Priorität {{score}} von 9",
    corrected: "von dir korrigiert",
    listLabel: "Nachrichten",
    loadingMore: "Lade weitere …",
    keyboardHint: "Tasten: j / k zum Bewegen, Enter zum Öffnen.",
    keyboardHintArchive: "Tasten: j / k zum Bewegen, Enter zum Öffnen, e zum Archivieren.",
    archive: "Archivieren (e)",
    archiving: "„{{subject}}“ wird ins Archiv verschoben …",
    archived: "„{{subject}}“ wird ins Archiv verschoben (ein Regellauf: auf der Regelseite rückgängig zu machen).",
    noArchive:
      "Archivieren (e) ist für diese Nachricht aus: ihr Konto hat keinen Archiv-Ordner. Lege auf dem Mailserver einen als Archiv markierten Ordner an und synchronisiere.",
    archiveFailed: "Archivieren fehlgeschlagen: {{message}}",
    newMail: "{{count}} neue oder geänderte Nachrichten. Anzeigen",
    category_work: "Arbeit",
    category_personal: "Privat",
    category_finance: "Finanzen",
    category_shopping: "Einkauf",
    category_travel: "Reisen",
    category_newsletter: "Newsletter",
    category_notification: "Benachrichtigung",
    category_social: "Soziales",
    category_security: "Sicherheit",
    category_other: "Sonstiges",
    level_1: "niedrig",
    level_2: "mittel",
    level_3: "hoch",
    thread: "{{count}} in der Unterhaltung"
  }
)

type MailKey = keyof typeof mailStrings.en

/** Every category the API knows, with its label; a category added on the server fails the build here. */
const categoryLabels: Readonly<Record<CategoryName, MailKey>> = {
  work: "category_work",
  personal: "category_personal",
  finance: "category_finance",
  shopping: "category_shopping",
  travel: "category_travel",
  newsletter: "category_newsletter",
  notification: "category_notification",
  social: "category_social",
  security: "category_security",
  other: "category_other"
}

export { categoryNames }

/** The dictionary key of a category; an unknown one (a rule's own category) shows as-is. */
export const categoryKey = (name: string): MailKey | undefined => {
  const known = categoryNames.find((candidate) => candidate === name)
  return known === undefined ? undefined : categoryLabels[known]
}

/** The dictionary key of an urgency or importance level (1 low, 2 medium, 3 high). */
export const levelKey = (level: number): MailKey => (level === 1 ? "level_1" : level === 2 ? "level_2" : "level_3")
