import { defineStrings } from "../i18n/index.ts"

export const rulesStrings = defineStrings("rules", { title: "Rules" }, { title: "Rules" })
