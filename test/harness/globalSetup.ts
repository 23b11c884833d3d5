import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import type { TestProject } from "vitest/node"
import { migrate } from "../../src/platform/Database.ts"
import { adminSql, serverUrl } from "./postgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    /** A migrated database that each test file clones (CREATE DATABASE ... TEMPLATE). */
    templateDatabase: string
  }
}

/** Migrates one template database per run; each test file gets its own copy of it. */
export default async function setup(project: TestProject) {
  const template = `mh_tpl_${process.pid}_${Date.now().toString(36)}`
  await adminSql(`CREATE DATABASE ${template}`)
  await Effect.runPromise(
    migrate.pipe(
      Effect.provide(PgClient.layer({ url: Redacted.make(serverUrl(template)) })),
      Effect.provide(Layer.empty)
    )
  )
  project.provide("templateDatabase", template)
  return async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
  }
}
