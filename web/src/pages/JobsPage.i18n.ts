import { defineStrings } from "../i18n/index.ts"

export const jobsStrings = defineStrings("jobs", { title: "Jobs" }, { title: "Jobs" })
