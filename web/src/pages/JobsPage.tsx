import type { JSX } from "react"
import { useStrings } from "../i18n/index.ts"
import { jobsStrings } from "./JobsPage.i18n.ts"

export function JobsPage(): JSX.Element {
  const t = useStrings(jobsStrings)
  return <h1>{t("title")}</h1>
}
