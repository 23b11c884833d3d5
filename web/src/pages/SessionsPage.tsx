import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { sessionsStrings } from "./SessionsPage.i18n.ts"

export function SessionsPage(): JSX.Element {
  const t = useStrings(sessionsStrings)
  return <h1>{t("title")}</h1>
}
