import type { JSX, ReactNode } from "react"
import { useStrings } from "../../i18n/index.ts"
import { CheckField } from "../ui.tsx"
import { ruleEditStrings } from "../../pages/RuleEditPage.i18n.ts"
import {
  type ActionDraft,
  type ActionType,
  actionTypes,
  type ConditionDraft,
  type ConditionField,
  conditionFields,
  type DraftProblem,
  newAction,
  newCondition,
  opsFor,
  type RuleDraft,
  rangeFor,
  takesCase,
  withField
} from "../../pages/mail/ruleForm.ts"

type Key = keyof typeof ruleEditStrings.en
const isKey = (key: string): key is Key => key in ruleEditStrings.en
const fieldLabel = (field: ConditionField): Key => `f_${field}`
const actionLabel = (type: ActionType): Key => `a_${type}`
const opLabel = (op: string): Key | null => {
  const key = `o_${op}`
  return isKey(key) ? key : null
}
const problemLabel = (problem: string): Key | null => {
  const key = `p_${problem}`
  return isKey(key) ? key : null
}

export interface RuleFormProps {
  readonly draft: RuleDraft
  readonly onChange: (draft: RuleDraft) => void
  readonly problems: ReadonlyArray<DraftProblem>
  /** Folder paths for the folder fields' suggestions. */
  readonly mailboxes: ReadonlyArray<string>
}

/** The rule as a form: one row per condition and per action, each control labelled, problems next to their row. */
export function RuleForm({ draft, onChange, problems, mailboxes }: RuleFormProps): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const problemText = (problem: string) => {
    const key = problemLabel(problem)
    return key === null ? problem : t(key)
  }
  const topProblem = (where: "name" | "priority" | "conditions" | "actions") =>
    problems.find((p) => p.where === where)?.problem
  const rowProblem = (where: "condition" | "action", index: number) =>
    problems.find((p) => p.where === where && "index" in p && p.index === index)?.problem
  const setCondition = (index: number, next: ConditionDraft) =>
    onChange({ ...draft, conditions: draft.conditions.map((row, i) => (i === index ? next : row)) })
  const setAction = (index: number, next: ActionDraft) =>
    onChange({ ...draft, actions: draft.actions.map((row, i) => (i === index ? next : row)) })
  const nameProblem = topProblem("name")
  const priorityProblem = topProblem("priority")
  return (
    <>
      <datalist id="rule-mailboxes">
        {mailboxes.map((path) => (
          <option key={path} value={path} />
        ))}
      </datalist>
      <div className="field-row">
        <label className="field">
          {t("name")}
          <input
            name="name"
            value={draft.name}
            maxLength={200}
            required
            aria-invalid={nameProblem !== undefined}
            aria-describedby={nameProblem === undefined ? undefined : "rule-name-problem"}
            onChange={(event) => onChange({ ...draft, name: event.currentTarget.value })}
          />
          {nameProblem === undefined ? null : (
            <span className="error" id="rule-name-problem">
              {problemText(nameProblem)}
            </span>
          )}
        </label>
        <label className="field">
          {t("priority")}
          <input
            name="priority"
            type="number"
            min={0}
            max={1_000_000}
            step={1}
            value={draft.priority}
            aria-invalid={priorityProblem !== undefined}
            aria-describedby="rule-priority-hint"
            onChange={(event) => onChange({ ...draft, priority: event.currentTarget.value })}
          />
          <span className="hint" id="rule-priority-hint">
            {priorityProblem === undefined ? t("priorityHint") : problemText(priorityProblem)}
          </span>
        </label>
      </div>
      <CheckField
        name="enabled"
        checked={draft.enabled}
        onChange={(checked) => onChange({ ...draft, enabled: checked })}
      >
        {t("enabled")}
      </CheckField>
      <CheckField
        name="stopProcessing"
        checked={draft.stopProcessing}
        onChange={(checked) => onChange({ ...draft, stopProcessing: checked })}
      >
        {t("stopProcessing")}
      </CheckField>

      <RowsFieldset
        legend={t("conditions")}
        lead={
          <label className="field">
            {t("match")}
            <select
              name="match"
              value={draft.match}
              onChange={(event) => onChange({ ...draft, match: event.currentTarget.value === "any" ? "any" : "all" })}
            >
              <option value="all">{t("matchAll")}</option>
              <option value="any">{t("matchAny")}</option>
            </select>
          </label>
        }
        problem={topProblem("conditions")}
        problemText={problemText}
        addLabel={t("addCondition")}
        onAdd={() => onChange({ ...draft, conditions: [...draft.conditions, newCondition()] })}
      >
        {draft.conditions.map((row, index) => (
          <ConditionRow
            key={row.key}
            index={index}
            row={row}
            problem={rowProblem("condition", index)}
            problemText={problemText}
            onChange={(next) => setCondition(index, next)}
            onRemove={() => onChange({ ...draft, conditions: draft.conditions.filter((_, i) => i !== index) })}
          />
        ))}
      </RowsFieldset>

      <RowsFieldset
        legend={t("actions")}
        problem={topProblem("actions")}
        problemText={problemText}
        addLabel={t("addAction")}
        onAdd={() => onChange({ ...draft, actions: [...draft.actions, newAction()] })}
      >
        {draft.actions.map((row, index) => (
          <ActionRow
            key={row.key}
            index={index}
            row={row}
            problem={rowProblem("action", index)}
            problemText={problemText}
            onChange={(next) => setAction(index, next)}
            onRemove={() => onChange({ ...draft, actions: draft.actions.filter((_, i) => i !== index) })}
          />
        ))}
      </RowsFieldset>
    </>
  )
}

function ConditionRow({
  index,
  row,
  problem,
  problemText,
  onChange,
  onRemove
}: {
  readonly index: number
  readonly row: ConditionDraft
  readonly problem: string | undefined
  readonly problemText: (problem: string) => string
  readonly onChange: (row: ConditionDraft) => void
  readonly onRemove: () => void
}): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const ops = opsFor(row.field)
  const range = rangeFor(row.field)
  const booleanField = ops.length === 0
  const problemId = `condition-${row.key}-problem`
  return (
    <fieldset className="rule-row" data-condition={index}>
      <legend className="visually-hidden">{t("condition", { n: index + 1 })}</legend>
      <label>
        {t("field")}
        <select
          name={`condition-${index}-field`}
          value={row.field}
          onChange={(event) => {
            const field = conditionFields.find((candidate) => candidate === event.currentTarget.value)
            if (field !== undefined) onChange(withField(row, field))
          }}
        >
          {conditionFields.map((field) => (
            <option key={field} value={field}>
              {t(fieldLabel(field))}
            </option>
          ))}
        </select>
      </label>
      {booleanField ? null : (
        <label>
          {t("op")}
          <select
            name={`condition-${index}-op`}
            value={row.op}
            onChange={(event) => onChange({ ...row, op: event.currentTarget.value })}
          >
            {ops.map((op) => {
              const key = opLabel(op)
              return (
                <option key={op} value={op}>
                  {key === null ? op : t(key)}
                </option>
              )
            })}
          </select>
        </label>
      )}
      {booleanField ? (
        <label>
          {t("yesNo")}
          <select
            name={`condition-${index}-value`}
            value={row.value}
            onChange={(event) => onChange({ ...row, value: event.currentTarget.value })}
          >
            <option value="true">{t("yes")}</option>
            <option value="false">{t("no")}</option>
          </select>
        </label>
      ) : (
        <label>
          {t("value")}
          <input
            name={`condition-${index}-value`}
            value={row.value}
            type={range === null ? "text" : "number"}
            min={range?.min}
            max={range?.max}
            maxLength={range === null ? 1000 : undefined}
            list={row.field === "mailbox" ? "rule-mailboxes" : undefined}
            aria-invalid={problem !== undefined}
            aria-describedby={problem === undefined ? undefined : problemId}
            onChange={(event) => onChange({ ...row, value: event.currentTarget.value })}
          />
        </label>
      )}
      {takesCase(row.field) ? (
        <CheckField checked={row.caseSensitive} onChange={(checked) => onChange({ ...row, caseSensitive: checked })}>
          {t("caseSensitive")}
        </CheckField>
      ) : null}
      <CheckField checked={row.negate} onChange={(checked) => onChange({ ...row, negate: checked })}>
        {t("negate")}
      </CheckField>
      <RemoveAndProblem
        rowName={t("condition", { n: index + 1 })}
        onRemove={onRemove}
        problem={problem}
        problemId={problemId}
        problemText={problemText}
      />
    </fieldset>
  )
}

function ActionRow({
  index,
  row,
  problem,
  problemText,
  onChange,
  onRemove
}: {
  readonly index: number
  readonly row: ActionDraft
  readonly problem: string | undefined
  readonly problemText: (problem: string) => string
  readonly onChange: (row: ActionDraft) => void
  readonly onRemove: () => void
}): JSX.Element {
  const t = useStrings(ruleEditStrings)
  const problemId = `action-${row.key}-problem`
  const needsMailbox = row.type === "moveTo" || row.type === "copyTo"
  const needsTag = row.type === "addTag" || row.type === "removeTag"
  const levelSelect = (which: "urgency" | "importance", label: string) => (
    <label>
      {label}
      <select
        name={`action-${index}-${which}`}
        value={row[which]}
        onChange={(event) => onChange({ ...row, [which]: event.currentTarget.value })}
      >
        <option value="">{t("unchanged")}</option>
        <option value="1">1</option>
        <option value="2">2</option>
        <option value="3">3</option>
      </select>
    </label>
  )
  return (
    <fieldset className="rule-row" data-action={index}>
      <legend className="visually-hidden">{t("action", { n: index + 1 })}</legend>
      <label>
        {t("actionType")}
        <select
          name={`action-${index}-type`}
          value={row.type}
          onChange={(event) => {
            const type = actionTypes.find((candidate) => candidate === event.currentTarget.value)
            if (type !== undefined) onChange({ ...row, type })
          }}
        >
          {actionTypes.map((type) => (
            <option key={type} value={type}>
              {t(actionLabel(type))}
            </option>
          ))}
        </select>
      </label>
      {needsMailbox || needsTag ? (
        <label>
          {needsMailbox ? t("mailbox") : t("tag")}
          <input
            name={`action-${index}-argument`}
            value={row.argument}
            maxLength={needsMailbox ? 1000 : 100}
            list={needsMailbox ? "rule-mailboxes" : undefined}
            aria-invalid={problem !== undefined}
            aria-describedby={problem === undefined ? undefined : problemId}
            onChange={(event) => onChange({ ...row, argument: event.currentTarget.value })}
          />
        </label>
      ) : null}
      {row.type === "setPriority" ? (
        <>
          {levelSelect("urgency", t("f_urgency"))}
          {levelSelect("importance", t("f_importance"))}
        </>
      ) : null}
      <RemoveAndProblem
        rowName={t("action", { n: index + 1 })}
        onRemove={onRemove}
        problem={problem}
        problemId={problemId}
        problemText={problemText}
      />
    </fieldset>
  )
}

/** A list of condition or action rows under one legend, with the list's own problem and a button adding a row. */
function RowsFieldset({
  legend,
  lead,
  problem,
  problemText,
  addLabel,
  onAdd,
  children
}: {
  readonly legend: string
  /** Controls shown before the list's problem, e.g. whether all or any condition must match. */
  readonly lead?: ReactNode
  readonly problem: string | undefined
  readonly problemText: (problem: string) => string
  readonly addLabel: string
  readonly onAdd: () => void
  readonly children: ReactNode
}): JSX.Element {
  return (
    <fieldset>
      <legend>{legend}</legend>
      {lead}
      {problem === undefined ? null : <p className="error">{problemText(problem)}</p>}
      {children}
      <button type="button" className="secondary" onClick={onAdd}>
        {addLabel}
      </button>
    </fieldset>
  )
}

/** The end of a condition or action row: its remove button (named after the row) and its problem, announced. */
function RemoveAndProblem({
  rowName,
  onRemove,
  problem,
  problemId,
  problemText
}: {
  readonly rowName: string
  readonly onRemove: () => void
  readonly problem: string | undefined
  readonly problemId: string
  readonly problemText: (problem: string) => string
}): JSX.Element {
  const t = useStrings(ruleEditStrings)
  return (
    <>
      <button type="button" className="secondary" onClick={onRemove} aria-label={`${t("remove")}: ${rowName}`}>
        {t("remove")}
      </button>
      {problem === undefined ? null : (
        <span className="error" id={problemId} role="alert">
          {problemText(problem)}
        </span>
      )}
    </>
  )
}
