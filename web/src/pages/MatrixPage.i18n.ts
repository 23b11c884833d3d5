import { defineStrings } from "../i18n/index.ts"

export const matrixStrings = defineStrings("matrix", { title: "Matrix" }, { title: "Matrix" })
