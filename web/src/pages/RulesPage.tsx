import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { rulesStrings } from "./RulesPage.i18n.ts"

export function RulesPage(): JSX.Element {
  const t = useStrings(rulesStrings)
  return <h1>{t("title")}</h1>
}
