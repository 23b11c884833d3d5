import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/harness/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // the machine has 2 cores; the services under test need their share
    maxWorkers: 2,
    reporters: ["default"]
  }
})
