import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { adminStrings } from "./AdminPage.i18n.ts"

export function AdminPage(): JSX.Element {
  const t = useStrings(adminStrings)
  return <h1>{t("title")}</h1>
}
