import type { JSX } from "react"
import { Link } from "wouter"
import { useStrings } from "../i18n/index.ts"
import { notFoundStrings } from "./NotFoundPage.i18n.ts"

export function NotFoundPage(): JSX.Element {
  const t = useStrings(notFoundStrings)
  return (
    <section>
      <h1>{t("title")}</h1>
      <p>{t("hint")}</p>
      <p>
        <Link href="/">{t("home")}</Link>
      </p>
    </section>
  )
}
