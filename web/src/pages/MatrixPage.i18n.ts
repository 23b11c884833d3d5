import { defineStrings } from "../i18n/index.ts"

export const matrixStrings = defineStrings(
  "matrix",
  {
    title: "Priority matrix",
    intro: "Analysed messages by urgency (rows) and importance (columns). Pick a cell to list its messages.",
    urgency: "Urgency",
    importance: "Importance",
    cell: "Urgency {{urgency}}, importance {{importance}}: {{count}} messages",
    counting: "Counting… {{count}} messages so far",
    counted: "{{count}} analysed messages counted.",
    failed: "The messages could not be counted.",
    pick: "Pick a cell to see its messages.",
    cellTitle: "Urgency {{urgency}}, importance {{importance}}",
    emptyTitle: "Nothing analysed yet",
    emptyText:
      "Once your mail is synced and analysed, it is sorted into this matrix. Connect or sync an account first.",
    goAccounts: "Go to accounts",
    emptyCell: "No messages in this cell."
  },
  {
    title: "Prioritäten-Matrix",
    intro:
      "Analysierte Nachrichten nach Dringlichkeit (Zeilen) und Wichtigkeit (Spalten). Wähle eine Zelle, um ihre Nachrichten zu sehen.",
    urgency: "Dringlichkeit",
    importance: "Wichtigkeit",
    cell: "Dringlichkeit {{urgency}}, Wichtigkeit {{importance}}: {{count}} Nachrichten",
    counting: "Zähle … bisher {{count}} Nachrichten",
    counted: "{{count}} analysierte Nachrichten gezählt.",
    failed: "Die Nachrichten konnten nicht gezählt werden.",
    pick: "Wähle eine Zelle, um ihre Nachrichten zu sehen.",
    cellTitle: "Dringlichkeit {{urgency}}, Wichtigkeit {{importance}}",
    emptyTitle: "Noch nichts analysiert",
    emptyText:
      "Sobald deine Post synchronisiert und analysiert ist, wird sie in diese Matrix einsortiert. Verbinde oder synchronisiere zuerst ein Konto.",
    goAccounts: "Zu den Konten",
    emptyCell: "Keine Nachrichten in dieser Zelle."
  }
)
