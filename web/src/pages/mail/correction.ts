/** The correction form's values turned into `PATCH /emails/:id` (src/contract/emails/EmailViews.ts, Correction). */
import { categoryNames } from "./categories.ts"
import type { CategoryName, Correction, EmailDetail, Level } from "./types.ts"

export const levels: ReadonlyArray<Level> = [1, 2, 3]
const levelOf = (value: string): Level | null => levels.find((level) => String(level) === value) ?? null
const categoryOf = (value: string): CategoryName | null => categoryNames.find((name) => name === value) ?? null

const splitTags = (value: string): ReadonlyArray<string> =>
  value
    .split(",")
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0)

/**
 * What the form sends: a field set to a value replaces the analysis for good; "as analysed" sends
 * null (drops the correction) only when there is one; an untouched field is left out.
 */
export const correctionOf = (
  email: Pick<EmailDetail, "overrides" | "tags">,
  form: { urgency: string; importance: string; category: string; spam: string; tags: string }
): Correction => {
  const overrides = email.overrides
  const correction: {
    urgency?: Level | null
    importance?: Level | null
    category?: CategoryName | null
    spam?: boolean | null
    tags?: ReadonlyArray<string> | null
  } = {}
  const urgency = levelOf(form.urgency)
  if (urgency !== (overrides?.urgency ?? null)) correction.urgency = urgency
  const importance = levelOf(form.importance)
  if (importance !== (overrides?.importance ?? null)) correction.importance = importance
  const category = categoryOf(form.category)
  if (category !== (overrides?.category ?? null)) correction.category = category
  const spam = form.spam === "true" ? true : form.spam === "false" ? false : null
  if (spam !== (overrides?.spam ?? null)) correction.spam = spam
  const tags = splitTags(form.tags)
  const currentTags = overrides?.tags ?? null
  if (tags.length === 0 && currentTags !== null) correction.tags = null
  else if (tags.length > 0 && tags.join(",") !== email.tags.join(",")) correction.tags = tags
  return correction
}
