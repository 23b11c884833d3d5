import { defineStrings } from "../i18n/index.ts"

export const adminStrings = defineStrings("admin", { title: "Admin" }, { title: "Admin" })
