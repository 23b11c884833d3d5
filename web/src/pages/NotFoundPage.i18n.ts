import { defineStrings } from "../i18n/index.ts"

export const notFoundStrings = defineStrings(
  "notFound",
  { title: "Page not found", hint: "This address is not a page of mail-helper.", home: "Go to the inbox" },
  {
    title: "Seite nicht gefunden",
    hint: "Diese Adresse ist keine Seite von mail-helper.",
    home: "Zum Posteingang"
  }
)
