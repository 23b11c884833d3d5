import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import type { Reporter, TestCase, TestModule, TestSuite } from "vitest/node"

/**
 * Application logs in test runs go to one file per test file, `.tmp/test-logs/<test file>.log`,
 * not into the runner's output; the tail of a failed file's log is printed after the run.
 * vitest.config.ts routes the console lines that are application log lines here
 * (`onConsoleLog`), and the harness appends what child processes (workers) write.
 */
export const testLogDir = join(process.cwd(), ".tmp", "test-logs")

export const testLogPath = (testFile: string) => join(testLogDir, `${relative(process.cwd(), testFile)}.log`)

export const appendTestLog = (testFile: string, text: string) => {
  const path = testLogPath(testFile)
  mkdirSync(dirname(path), { recursive: true })
  appendFileSync(path, text.endsWith("\n") ? text : `${text}\n`)
}

/**
 * Lines an application logger wrote: Effect's default logger (`[12:00:00.000] WARN (#47): ...`),
 * the programs' JSON logger (`{"time":...`) and the capture logger of test/sync/support.ts
 * (`Warn "..." {...}`). A test's own console output (figures, skip notices) stays in the output.
 */
const applicationLogLine =
  /^(\[\d{2}:\d{2}:\d{2}\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(#\d+\)|\{"time":"|(Trace|Debug|Info|Warn|Error|Fatal) ["[])/

/** vitest's `onConsoleLog`: application log lines go to the test file's log and not to the output. */
export const routeConsoleLog = (
  log: string,
  type: "stdout" | "stderr",
  entity: TestModule | TestCase | TestSuite | undefined
): boolean | undefined => {
  if (entity === undefined || !applicationLogLine.test(log)) return undefined
  const module = entity.type === "module" ? entity : entity.module
  const where = entity.type === "module" ? "" : ` [${entity.fullName}]`
  appendTestLog(module.moduleId, `${type}${where}: ${log}`)
  return false
}

const tailLines = 150

/** Prints the last lines of the log of every failed test file (after the default reporter's summary). */
export class TestLogReporter implements Reporter {
  onInit() {
    rmSync(testLogDir, { recursive: true, force: true })
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    for (const testModule of testModules) {
      if (testModule.state() !== "failed") continue
      const path = testLogPath(testModule.moduleId)
      const header = `application log of ${relative(process.cwd(), testModule.moduleId)} (${relative(process.cwd(), path)})`
      if (!existsSync(path)) {
        process.stdout.write(`\n${header}: empty\n`)
        continue
      }
      const lines = readFileSync(path, "utf8").trimEnd().split("\n")
      const shown = lines.slice(-tailLines)
      process.stdout.write(
        `\n---- ${header}, ${shown.length < lines.length ? `last ${shown.length} of ${lines.length} lines` : `${lines.length} lines`} ----\n${shown.join("\n")}\n---- end of ${relative(process.cwd(), path)} ----\n`
      )
    }
  }
}
