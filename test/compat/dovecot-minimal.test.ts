import { compatMatrix, subscribedUndefinedDefect, targets } from "./support.ts"

compatMatrix(targets.dovecotMinimal({ unsubscribed: subscribedUndefinedDefect, noselect: subscribedUndefinedDefect }))
