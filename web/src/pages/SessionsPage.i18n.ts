import { defineStrings } from "../i18n/index.ts"

export const sessionsStrings = defineStrings("sessions", { title: "Sessions" }, { title: "Sessions" })
