import type { JSX } from "react"
import { useStrings } from "../../i18n/index.ts"
import type { EmailSummary } from "../../pages/mail/types.ts"
import { mailStrings } from "./mail.i18n.ts"

/** The score as a coloured chip; the colour is never the only signal (the number and a label are there). */
export function PriorityBadge({
  email
}: {
  readonly email: Pick<EmailSummary, "score" | "band" | "analysisState" | "corrected">
}): JSX.Element {
  const t = useStrings(mailStrings)
  if (email.score === null || email.band === null) {
    const label = email.analysisState === "failed" ? t("analysisFailed") : t("notAnalysed")
    return (
      <span className="priority priority-none" role="img" title={label} aria-label={label}>
        ·
      </span>
    )
  }
  const bandLabel = email.band === "red" ? t("bandRed") : email.band === "yellow" ? t("bandYellow") : t("bandGreen")
  const label = `${t("priority", { score: email.score })}, ${bandLabel}${email.corrected ? `, ${t("corrected")}` : ""}`
  return (
    <span className={`priority priority-${email.band}`} role="img" title={label} aria-label={label}>
      {email.score}
      {email.corrected ? "*" : ""}
    </span>
  )
}
