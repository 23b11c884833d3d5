import { defineStrings } from "../i18n/index.ts"

export const accountsStrings = defineStrings("accounts", { title: "Accounts" }, { title: "Accounts" })
