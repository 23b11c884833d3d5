import { defineStrings } from "../i18n/index.ts"

export const accountDetailStrings = defineStrings(
  "accountDetail",
  { title: "AccountDetail" },
  { title: "AccountDetail" }
)
