/**
 * Mail accounts inserted straight into a bench's database, as the API would store them (password
 * sealed with the run's SECRET_KEYS): one per Dovecot user `<userPrefix><i>`, labelled `<userPrefix> <i>`.
 * For bench/realtime.ts and bench/realtime-memory.ts, which need hundreds at once.
 */
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { Effect, Redacted } from "effect"
import { passwordAssociatedData } from "../../src/accounts/AccountStore.ts"
import { makeCrypto, parseKeyring } from "../../src/platform/Crypto.ts"

/** Runs SQL given on stdin through psql; its output, trimmed. */
export const psqlInput = (databaseUrl: string, sql: string): string => {
  const result = spawnSync("psql", [databaseUrl, "-v", "ON_ERROR_STOP=1", "-qAt"], { input: sql, encoding: "utf8" })
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`)
  return result.stdout.trim()
}

export interface BenchAccounts {
  readonly databaseUrl: string
  readonly secretKeys: string
  readonly owner: string
  readonly host: string
  readonly port: number
  readonly security: "none" | "tls"
  readonly userPrefix: string
  readonly password: string
  /** Users `from`..`to - 1`. */
  readonly from: number
  readonly to: number
}

/** Inserts the accounts in one statement; their ids, in user order. */
export const insertAccounts = (options: BenchAccounts): ReadonlyArray<string> => {
  const keyring = parseKeyring(options.secretKeys)
  if (typeof keyring === "string") throw new Error(`SECRET_KEYS: ${keyring}`)
  const crypto = makeCrypto(keyring)
  const ids: Array<string> = []
  const rows: Array<string> = []
  for (let i = options.from; i < options.to; i++) {
    const id = randomUUID()
    ids.push(id)
    const sealed = Effect.runSync(crypto.encrypt(Redacted.make(options.password), passwordAssociatedData(id)))
    const { owner, host, port, security, userPrefix } = options
    rows.push(
      `('${id}', '${owner}', '${userPrefix} ${i}', '${host}', ${port}, '${security}', '${userPrefix}${i}', '${sealed}', NULL)`
    )
  }
  if (rows.length === 0) return ids
  psqlInput(
    options.databaseUrl,
    `INSERT INTO mail_accounts (id, user_id, label, host, port, security, username, password_sealed, sync_interval_minutes) VALUES
     ${rows.join(",\n")};`
  )
  return ids
}
