import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { notFoundStrings } from "./NotFoundPage.i18n.ts"

export function NotFoundPage(): JSX.Element {
  const t = useStrings(notFoundStrings)
  return <h1>{t("title")}</h1>
}
