import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { searchStrings } from "./SearchPage.i18n.ts"

export function SearchPage(): JSX.Element {
  const t = useStrings(searchStrings)
  return <h1>{t("title")}</h1>
}
