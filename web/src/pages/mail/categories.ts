import type { CategoryName } from "./types.ts"

/** Every category the API knows; a category added on the server fails the build here until it is listed. */
const known: Readonly<Record<CategoryName, true>> = {
  work: true,
  personal: true,
  finance: true,
  shopping: true,
  travel: true,
  newsletter: true,
  notification: true,
  social: true,
  security: true,
  other: true
}

export const categoryNames: ReadonlyArray<CategoryName> = Object.keys(known).filter(
  (name): name is CategoryName => name in known
)
