import { defineStrings } from "../i18n/index.ts"

export const messageStrings = defineStrings("message", { title: "Message" }, { title: "Message" })
