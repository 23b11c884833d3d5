/**
 * `keys rotate`: re-encrypts every secret at rest under the newest key of SECRET_KEYS.
 *
 * Procedure (README: secret keys): add a new key with a higher version to SECRET_KEYS and
 * restart (new secrets use it at once, old ones still decrypt with their own version); run
 * `npm run cli -- keys rotate`; once it reports no failures, the old key may leave SECRET_KEYS.
 *
 * Idempotent: values already under the newest key are left alone, so a second run changes
 * nothing. Each value is replaced only if it did not change meanwhile (compare-and-set), so a
 * concurrent password change is never overwritten. Runs in the system scope: it must see every
 * user's rows; it never logs or prints a secret.
 */
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { Crypto } from "../platform/Crypto.ts"
import { fromSqlError, logDatabaseError } from "../platform/Database.ts"
import { UserScope } from "../users/UserScope.ts"
import { passwordAssociatedData } from "./AccountStore.ts"
import { KeyRotationStore, type SealedColumn } from "./KeyRotationStore.ts"
import { accessAssociatedData, refreshAssociatedData } from "./OAuthStore.ts"

/** Every sealed secret of the schema. New ones are added here. */
export const sealedColumns: ReadonlyArray<SealedColumn> = [
  { table: "mail_accounts", column: "password_sealed", associatedData: passwordAssociatedData },
  { table: "oauth_grants", column: "refresh_sealed", associatedData: refreshAssociatedData },
  { table: "oauth_grants", column: "access_sealed", associatedData: accessAssociatedData },
  // webhooks' signing secrets: the associated data of src/webhooks/WebhookDelivery.ts `secretData`
  // (spelled out here: accounts sits below webhooks; test/accounts/keys.test.ts checks both agree)
  { table: "webhooks", column: "sealed_secret", associatedData: (id) => `webhooks:${id}:secret` }
]

export interface RotationReport {
  readonly table: string
  readonly column: string
  readonly currentVersion: number
  readonly total: number
  readonly rotated: number
  readonly alreadyCurrent: number
  /** Changed by someone else while rotating (and so already under the newest key). */
  readonly changedMeanwhile: number
  /** Rows whose secret did not decrypt (its key is no longer in SECRET_KEYS, or it was tampered with). */
  readonly failed: ReadonlyArray<{ readonly id: string; readonly message: string }>
}

const pageSize = 200

const rotateColumn = (target: SealedColumn) =>
  Effect.gen(function* () {
    const store = yield* KeyRotationStore
    const scope = yield* UserScope
    const crypto = yield* Crypto
    let total = 0
    let rotated = 0
    let alreadyCurrent = 0
    let changedMeanwhile = 0
    const failed: Array<{ id: string; message: string }> = []
    let after = ""
    for (;;) {
      // one page per transaction, keyset-paginated by id
      const page = yield* scope.system(
        `keys rotate ${target.table}.${target.column}`,
        Effect.gen(function* () {
          const rows = yield* store.sealedPage(target, after, pageSize)
          for (const row of rows) {
            total++
            if (crypto.versionOf(row.sealed) === crypto.currentVersion) {
              alreadyCurrent++
              continue
            }
            const aad = target.associatedData(row.id)
            const opened = yield* Effect.result(crypto.decrypt(row.sealed, aad))
            if (opened._tag === "Failure") {
              failed.push({ id: row.id, message: opened.failure.message })
              continue
            }
            const resealed = yield* crypto.encrypt(opened.success, aad)
            const replaced = yield* store.replaceSealed(target, row.id, row.sealed, resealed)
            if (replaced) rotated++
            else changedMeanwhile++
          }
          return rows
        })
      )
      const last = page.at(-1)
      if (last === undefined || page.length < pageSize) break
      after = last.id
    }
    return {
      table: target.table,
      column: target.column,
      currentVersion: crypto.currentVersion,
      total,
      rotated,
      alreadyCurrent,
      changedMeanwhile,
      failed
    } satisfies RotationReport
  }).pipe(Effect.mapError(fromSqlError), Effect.withSpan("KeyRotation.rotateColumn"))

/** Rotates every sealed column; reports counts per column, never a secret. */
export const rotateSecrets = Effect.forEach(sealedColumns, rotateColumn).pipe(
  // the store needs only what the callers have (SqlClient): built here, so the CLI and the tests
  // provide no more than before
  Effect.provide(KeyRotationStore.layer)
)

const rotate = Command.make("rotate", {}, () =>
  Effect.gen(function* () {
    const reports = yield* rotateSecrets
    let failures = 0
    for (const report of reports) {
      yield* Console.log(
        `${report.table}.${report.column}: ${report.total} secrets, ${report.rotated} re-encrypted under key v${report.currentVersion}, ` +
          `${report.alreadyCurrent} already current, ${report.changedMeanwhile} changed meanwhile, ${report.failed.length} failed`
      )
      for (const failure of report.failed) yield* Console.error(`  ${report.table} ${failure.id}: ${failure.message}`)
      failures += report.failed.length
    }
    if (failures > 0) {
      yield* Console.error(
        "some secrets could not be decrypted with any key in SECRET_KEYS: keep the old keys, or have those users re-enter their passwords"
      )
      yield* Effect.sync(() => {
        process.exitCode = 1
      })
    }
  }).pipe(
    Effect.catchTag("DatabaseError", (error) =>
      logDatabaseError(error).pipe(
        Effect.andThen(Console.error(`error: ${error.message}`)),
        Effect.andThen(
          Effect.sync(() => {
            process.exitCode = 1
          })
        )
      )
    )
  )
).pipe(Command.withDescription("Re-encrypt every secret at rest under the newest key of SECRET_KEYS"))

/** `keys rotate`. Mount with Crypto: `KeysCommand.pipe(Command.provide(Crypto.layer))`. */
export const KeysCommand = Command.make("keys").pipe(
  Command.withDescription("Manage the keyring of secrets at rest"),
  Command.withSubcommands([rotate])
)
