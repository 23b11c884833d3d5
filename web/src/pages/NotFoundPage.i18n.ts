import { defineStrings } from "../i18n/index.ts"

export const notFoundStrings = defineStrings("notFound", { title: "NotFound" }, { title: "NotFound" })
