import { compatMatrix, subscribedUndefinedDefect, targets } from "./support.ts"

compatMatrix(targets.courier({ unsubscribed: subscribedUndefinedDefect }))
