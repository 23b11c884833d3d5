import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { accountsStrings } from "./AccountsPage.i18n.ts"

export function AccountsPage(): JSX.Element {
  const t = useStrings(accountsStrings)
  return <h1>{t("title")}</h1>
}
