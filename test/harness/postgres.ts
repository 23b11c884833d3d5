import { spawnSync } from "node:child_process"

/** The local test server (trust auth, superuser `root`); override with TEST_POSTGRES_URL. */
const base = process.env["TEST_POSTGRES_URL"] ?? "postgres://root@127.0.0.1:5432"

export const serverUrl = (database: string): string => `${base}/${database}`

/** Runs one administrative statement (CREATE/DROP DATABASE) through psql, outside any pool. */
export const adminSql = async (statement: string): Promise<void> => {
  const result = spawnSync("psql", [serverUrl("postgres"), "-v", "ON_ERROR_STOP=1", "-qc", statement], {
    encoding: "utf8"
  })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
}

/** One value read with psql as the owner (no row-level security): an independent view of what was stored. */
export const psqlValue = (databaseUrl: string, query: string): string => {
  const result = spawnSync("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qAtc", query], { encoding: "utf8" })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}
