import { type FormEvent, type JSX, useState } from "react"
import { type ApiFailure, callApi } from "../../api/client.ts"
import { ErrorMessage } from "../ui.tsx"
import { useStrings } from "../../i18n/index.ts"
import { messageStrings } from "../../pages/MessagePage.i18n.ts"
import { correctionOf, levels } from "../../pages/mail/correction.ts"
import type { EmailDetail } from "../../pages/mail/types.ts"
import { CategoryOptions } from "./CategoryOptions.tsx"
import { levelKey, mailStrings } from "./mail.i18n.ts"

export function CorrectionForm({
  email,
  onSaved
}: {
  readonly email: EmailDetail
  readonly onSaved: (email: EmailDetail) => void
}): JSX.Element {
  const t = useStrings(messageStrings)
  const overrides = email.overrides
  const [form, setForm] = useState({
    urgency: overrides?.urgency === null || overrides === null ? "" : String(overrides.urgency),
    importance: overrides?.importance === null || overrides === null ? "" : String(overrides.importance),
    category: overrides?.category ?? "",
    spam: overrides?.spam === null || overrides === null ? "" : String(overrides.spam),
    tags: overrides?.tags === null || overrides === null ? "" : overrides.tags.join(", ")
  })
  const [status, setStatus] = useState<
    | { readonly kind: "idle" }
    | { readonly kind: "saving" }
    | { readonly kind: "saved" }
    | { readonly kind: "failed"; readonly failure: ApiFailure }
  >({ kind: "idle" })
  const set = (key: keyof typeof form) => (event: { readonly currentTarget: { readonly value: string } }) => {
    const value = event.currentTarget.value
    setForm((before) => ({ ...before, [key]: value }))
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setStatus({ kind: "saving" })
    const payload = correctionOf(email, form)
    const result = await callApi("emails", (emails) => emails.correct({ params: { id: email.id }, payload }))
    if (result.ok) {
      setStatus({ kind: "saved" })
      onSaved(result.value)
    } else setStatus({ kind: "failed", failure: result.failure })
  }
  return (
    <form className="stack" onSubmit={(event) => void submit(event)} aria-labelledby="correct-heading">
      <h2 id="correct-heading">{t("correct")}</h2>
      <p className="hint">{t("correctHint")}</p>
      <div className="field-row">
        <LevelSelect
          which="urgency"
          value={form.urgency}
          onChange={set("urgency")}
          analysed={email.analysis?.urgency}
        />
        <LevelSelect
          which="importance"
          value={form.importance}
          onChange={set("importance")}
          analysed={email.analysis?.importance}
        />
        <label className="field">
          {t("category")}
          <select name="category" value={form.category} onChange={set("category")}>
            <option value="">{t("asAnalysed")}</option>
            <CategoryOptions />
          </select>
        </label>
        <label className="field">
          {t("spam")}
          <select name="spam" value={form.spam} onChange={set("spam")}>
            <option value="">{t("asAnalysed")}</option>
            <option value="true">{t("yes")}</option>
            <option value="false">{t("no")}</option>
          </select>
        </label>
      </div>
      <label className="field">
        {t("tags")}
        <input name="tags" value={form.tags} onChange={set("tags")} aria-describedby="tags-hint" />
        <span className="hint" id="tags-hint">
          {t("tagsHint")}
        </span>
      </label>
      <div className="actions">
        <button type="submit" disabled={status.kind === "saving"}>
          {t("save")}
        </button>
      </div>
      <div aria-live="polite">
        {status.kind === "saved" ? <p className="notice">{t("saved")}</p> : null}
        {status.kind === "failed" ? <ErrorMessage failure={status.failure}>{t("saveFailed")}</ErrorMessage> : null}
      </div>
    </form>
  )
}

/** Urgency or importance: "as analysed" (naming the analysis' level when there is one) or a level chosen by hand. */
function LevelSelect({
  which,
  value,
  onChange,
  analysed
}: {
  readonly which: "urgency" | "importance"
  readonly value: string
  readonly onChange: (event: { readonly currentTarget: { readonly value: string } }) => void
  readonly analysed: number | undefined
}): JSX.Element {
  const t = useStrings(messageStrings)
  const m = useStrings(mailStrings)
  return (
    <label className="field">
      {t(which)}
      <select name={which} value={value} onChange={onChange}>
        <option value="">
          {t("asAnalysed")}
          {analysed === undefined ? "" : ` (${m(levelKey(analysed))})`}
        </option>
        {levels.map((level) => (
          <option key={level} value={String(level)}>
            {level} – {m(levelKey(level))}
          </option>
        ))}
      </select>
    </label>
  )
}
