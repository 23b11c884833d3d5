import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { signInStrings } from "./SignInPage.i18n.ts"

export function SignInPage(): JSX.Element {
  const t = useStrings(signInStrings)
  return <h1>{t("title")}</h1>
}
