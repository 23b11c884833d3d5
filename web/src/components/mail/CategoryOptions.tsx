import type { JSX } from "react"
import { useStrings } from "../../i18n/index.ts"
import { categoryKey, categoryNames, mailStrings } from "./mail.i18n.ts"

/** One `<option>` per known category, worded in the reader's language; goes after a select's own empty choice. */
export function CategoryOptions(): JSX.Element {
  const m = useStrings(mailStrings)
  return (
    <>
      {categoryNames.map((name) => {
        const key = categoryKey(name)
        return (
          <option key={name} value={name}>
            {key === undefined ? name : m(key)}
          </option>
        )
      })}
    </>
  )
}
