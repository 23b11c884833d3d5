import type { EmailSummary, Level } from "./types.ts"

export const matrixLevels: ReadonlyArray<Level> = [1, 2, 3]

export interface MatrixCell {
  readonly urgency: Level
  readonly importance: Level
}

export const cellKey = (cell: MatrixCell): string => `${cell.urgency}:${cell.importance}`

/** The messages of each cell, in the order they came (highest score first). Unanalysed ones are in none. */
export const groupByCell = (items: ReadonlyArray<EmailSummary>): ReadonlyMap<string, ReadonlyArray<EmailSummary>> => {
  const cells = new Map<string, Array<EmailSummary>>()
  for (const email of items) {
    if (email.urgency === null || email.importance === null) continue
    const key = cellKey({ urgency: email.urgency, importance: email.importance })
    const list = cells.get(key)
    if (list === undefined) cells.set(key, [email])
    else list.push(email)
  }
  return cells
}
