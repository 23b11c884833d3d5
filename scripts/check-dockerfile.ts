// Parses and lints a Dockerfile without a Docker engine (CI: .ci/run, section "deployment files").
//
//   npx tsx scripts/check-dockerfile.ts [Dockerfile]
//
// dockerfile-utils (the validator behind VS Code's Docker language server) reports syntax errors
// (unknown instructions, bad flags, malformed JSON forms, invalid ports and signals...) as errors
// and style problems as warnings; here every diagnostic fails, with every optional rule raised to
// an error. It does not know the build context, so this script also checks that every local
// COPY/ADD source (not `--from=<stage>`) exists: a renamed directory breaks `docker build` only.
import { existsSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { ValidationSeverity, validate } from "dockerfile-utils"

const path = resolve(process.argv[2] ?? "Dockerfile")
const context = dirname(path)
const text = readFileSync(path, "utf8")
const lines = text.split("\n")

const problems: Array<string> = []

const diagnostics = validate(text, {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR
})
for (const d of diagnostics) {
  const kind = d.severity === 1 /* LSP DiagnosticSeverity.Error */ ? "error" : "warning"
  const line = d.range.start.line + 1
  problems.push(`${path}:${line}: ${kind}: ${d.message}\n    ${(lines[line - 1] ?? "").trim()}`)
}

// COPY/ADD sources from the build context (continuation lines joined; --from=<stage> skipped).
let start = 0
let instruction = ""
lines.forEach((raw, index) => {
  if (instruction === "") start = index + 1
  instruction += raw.replace(/\\\r?$/, " ")
  if (/\\\r?$/.test(raw)) return
  const match = /^\s*(COPY|ADD)\s+(.*)$/i.exec(instruction)
  instruction = ""
  if (match === null) return
  const words = (match[2] ?? "").trim().split(/\s+/)
  if (words.some((w) => w.startsWith("--from="))) return
  const args = words.filter((w) => !w.startsWith("--"))
  for (const source of args.slice(0, -1)) {
    if (/^[a-z]+:\/\//i.test(source) || /[*?[]/.test(source)) continue
    if (!existsSync(join(context, source))) {
      problems.push(`${path}:${start}: error: ${match[1]} source '${source}' is not in the build context`)
    }
  }
})

if (problems.length > 0) {
  console.error(problems.join("\n"))
  console.error(`${path}: ${problems.length} problem(s)`)
  process.exit(1)
}
console.log(`${path}: parsed, ${diagnostics.length} diagnostics, every COPY source present`)
