import { defineStrings } from "../i18n/index.ts"

export const ruleEditStrings = defineStrings("ruleEdit", { title: "RuleEdit" }, { title: "RuleEdit" })
