import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { ruleEditStrings } from "./RuleEditPage.i18n.ts"

export function RuleEditPage(): JSX.Element {
  const t = useStrings(ruleEditStrings)
  return <h1>{t("title")}</h1>
}
