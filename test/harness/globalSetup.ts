import { PgClient } from "@effect/sql-pg"
import { Effect, Logger, Redacted } from "effect"
import type { TestProject } from "vitest/node"
import { migrate } from "../../src/platform/Database.ts"
import { adminSql, ensureRuntimeLogin, serverUrl } from "./postgres.ts"
import { appendTestLog } from "./testLogs.ts"

/** The run's own log lines (migrations) go to .tmp/test-logs/globalSetup.log, not to the output. */
const setupLogger = Logger.map(Logger.formatSimple, (line) => appendTestLog("globalSetup", line))

declare module "vitest" {
  export interface ProvidedContext {
    /** A migrated database that each test file clones (CREATE DATABASE ... TEMPLATE). */
    templateDatabase: string
  }
}

/**
 * Migrates one template database per run as the owner (root), then makes sure
 * the runtime login exists: each test file gets its own copy of the template
 * and its programs log in as the runtime login, as in production.
 */
export default async function setup(project: TestProject) {
  const template = `mh_tpl_${process.pid}_${Date.now().toString(36)}`
  await adminSql(`CREATE DATABASE ${template}`)
  await Effect.runPromise(
    migrate.pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl(template)) })),
      Effect.provide(Logger.layer([setupLogger]))
    )
  )
  await ensureRuntimeLogin()
  project.provide("templateDatabase", template)
  return async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
  }
}
