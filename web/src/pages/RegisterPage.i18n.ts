import { defineStrings } from "../i18n/index.ts"

export const registerStrings = defineStrings("register", { title: "Register" }, { title: "Register" })
