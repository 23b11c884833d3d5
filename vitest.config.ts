import { configDefaults, defineConfig } from "vitest/config"
import { routeConsoleLog, TestLogReporter } from "./test/harness/testLogs.ts"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // the 50,000-message folder takes minutes: .ci/run runs it in a time-boxed step of its own
    exclude: [
      ...configDefaults.exclude,
      ...(process.env["COMPAT_LARGE_FOLDER"] === "1" ? [] : ["test/compat/largeFolder.test.ts"])
    ],
    globalSetup: ["test/harness/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // the machine has 2 cores; the services under test need their share
    maxWorkers: 2,
    // application logs go to .tmp/test-logs/<test file>.log; a failed file's tail is printed at the end
    onConsoleLog: routeConsoleLog,
    reporters: ["default", new TestLogReporter()]
  }
})
