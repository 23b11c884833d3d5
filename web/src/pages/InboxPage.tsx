import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { inboxStrings } from "./InboxPage.i18n.ts"

export function InboxPage(): JSX.Element {
  const t = useStrings(inboxStrings)
  return <h1>{t("title")}</h1>
}
