import { defineStrings } from "../i18n/index.ts"

export const searchStrings = defineStrings("search", { title: "Search" }, { title: "Search" })
