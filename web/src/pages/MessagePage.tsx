import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { messageStrings } from "./MessagePage.i18n.ts"

export function MessagePage(): JSX.Element {
  const t = useStrings(messageStrings)
  return <h1>{t("title")}</h1>
}
