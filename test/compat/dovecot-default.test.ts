import { compatMatrix, targets } from "./support.ts"

compatMatrix(targets.dovecotDefault())
