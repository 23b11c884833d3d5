import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { matrixStrings } from "./MatrixPage.i18n.ts"

export function MatrixPage(): JSX.Element {
  const t = useStrings(matrixStrings)
  return <h1>{t("title")}</h1>
}
