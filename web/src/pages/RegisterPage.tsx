import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { registerStrings } from "./RegisterPage.i18n.ts"

export function RegisterPage(): JSX.Element {
  const t = useStrings(registerStrings)
  return <h1>{t("title")}</h1>
}
