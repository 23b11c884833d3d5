import { compatMatrix, subscribedUndefinedDefect, targets } from "./support.ts"

compatMatrix(targets.dovecotDefault({ unsubscribed: subscribedUndefinedDefect, noselect: subscribedUndefinedDefect }))
