import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { accountDetailStrings } from "./AccountDetailPage.i18n.ts"

export function AccountDetailPage(): JSX.Element {
  const t = useStrings(accountDetailStrings)
  return <h1>{t("title")}</h1>
}
