import { defineConfig } from "vitest/config"
import { routeConsoleLog, TestLogReporter } from "./test/harness/testLogs.ts"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
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
