import { compatMatrix, cyrusVanishedDefect, subscribedUndefinedDefect, targets } from "./support.ts"

compatMatrix(
  targets.cyrus({
    unsubscribed: subscribedUndefinedDefect,
    noselect: subscribedUndefinedDefect,
    plain: cyrusVanishedDefect,
    nonascii: cyrusVanishedDefect,
    empty: cyrusVanishedDefect,
    uidgaps: cyrusVanishedDefect,
    eightbit: cyrusVanishedDefect
  })
)
