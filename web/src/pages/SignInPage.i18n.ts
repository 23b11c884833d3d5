import { defineStrings } from "../i18n/index.ts"

export const signInStrings = defineStrings("signIn", { title: "SignIn" }, { title: "SignIn" })
