import { defineStrings } from "../i18n/index.ts"

export const inboxStrings = defineStrings("inbox", { title: "Inbox" }, { title: "Inbox" })
