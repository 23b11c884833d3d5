import type { Level } from "./types.ts"

export const matrixLevels: ReadonlyArray<Level> = [1, 2, 3]

export interface MatrixCell {
  readonly urgency: Level
  readonly importance: Level
}

export const cellKey = (cell: MatrixCell): string => `${cell.urgency}:${cell.importance}`
