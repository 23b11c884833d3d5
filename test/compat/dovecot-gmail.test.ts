import { compatMatrix, subscribedUndefinedDefect, targets } from "./support.ts"

// the [Gmail] namespace prefix is listed as a \Noselect parent, so every shape meets the defect today
compatMatrix(
  targets.dovecotGmail({
    plain: subscribedUndefinedDefect,
    unsubscribed: subscribedUndefinedDefect,
    noselect: subscribedUndefinedDefect,
    nonascii: subscribedUndefinedDefect,
    empty: subscribedUndefinedDefect,
    uidgaps: subscribedUndefinedDefect,
    eightbit: subscribedUndefinedDefect
  })
)
