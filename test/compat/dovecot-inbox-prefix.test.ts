import { compatMatrix, subscribedUndefinedDefect, targets } from "./support.ts"

compatMatrix(
  targets.dovecotInboxPrefix({ unsubscribed: subscribedUndefinedDefect, noselect: subscribedUndefinedDefect })
)
