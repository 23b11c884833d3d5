import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { dovecotScoped } from "../harness/dovecot.ts"
import { makeTestEnv } from "../harness/TestEnv.ts"
import { call, field } from "../harness/http.ts"
import { generateMessages } from "../harness/mailgen.ts"
import { adminSql, psqlValue, serverUrl } from "../harness/postgres.ts"
import { strongPassword, testAuthEnv } from "../users/helpers.ts"
import { startApi, startWorker } from "./programs.ts"

/**
 * deploy/backup.sh and deploy/restore.sh, run as an operator would, against a database the
 * real programs populated (users, tokens, invites, jobs, a synced mail account with its
 * mailboxes, messages, attachments and analysis, rules). The restored copy must hold the same
 * schema and the same rows: per table, the row count and an MD5 over the sorted rows.
 */

const run = (command: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const result = spawnSync(command, [...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
    input: ""
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

const tables = (databaseUrl: string): Array<string> =>
  psqlValue(
    databaseUrl,
    "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
  ).split(",")

/** Per table: row count and an MD5 of its rows in a stable order (as the superuser: RLS does not filter). */
const fingerprint = (databaseUrl: string): Record<string, string> =>
  Object.fromEntries(
    tables(databaseUrl).map((table) => [
      table,
      psqlValue(
        databaseUrl,
        `SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM public."${table}" t`
      )
    ])
  )

/** The schema as pg_dump prints it, without the lines that differ between any two dumps. */
const schemaOf = (databaseUrl: string): string => {
  const dump = run("pg_dump", ["--schema-only", "--no-password", `--dbname=${databaseUrl}`])
  assert.strictEqual(dump.status, 0, dump.stderr)
  return dump.stdout
    .split("\n")
    .filter((line) => !line.startsWith("--") && !/^\\(un)?restrict /.test(line))
    .join("\n")
}

const rowCount = (fingerprints: Record<string, string>, table: string): number =>
  Number((fingerprints[table] ?? "0:").split(":")[0])

describe("backup and restore", () => {
  it.live(
    "deploy/backup.sh and deploy/restore.sh round-trip a populated database",
    () =>
      Effect.gen(function* () {
        const env = yield* makeTestEnv({
          ...testAuthEnv,
          SECRET_KEYS: "1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        })
        const imapPassword = "imap-backup-secret"
        const dovecot = yield* dovecotScoped({ users: [{ user: "backup", pass: imapPassword }] })
        yield* Effect.promise(() =>
          dovecot.seedMaildir(
            "backup",
            "INBOX",
            generateMessages(40, { seed: 17, domain: "backup.test" }).map((message) => ({ raw: message.raw }))
          )
        )
        const { program: api, base } = yield* Effect.acquireRelease(
          Effect.promise(() => startApi(env.env)),
          ({ program }) => Effect.promise(() => program.stop())
        )
        const { program: worker } = yield* Effect.acquireRelease(
          Effect.promise(() => startWorker(env.env)),
          ({ program }) => Effect.promise(() => program.stop())
        )

        // --- populate through the API ---------------------------------------------------------
        const email = `owner.${Date.now().toString(36)}@example.org`
        assert.strictEqual(
          (yield* call(base, "POST", "/api/v1/auth/register", { json: { email, password: strongPassword } })).status,
          201
        )
        const signedIn = yield* call(base, "POST", "/api/v1/auth/login", { json: { email, password: strongPassword } })
        const cookie = (signedIn.headers.getSetCookie()[0] ?? "").split(";")[0] ?? ""
        const created = yield* call(base, "POST", "/api/v1/auth/tokens", {
          json: { name: "backup" },
          headers: { cookie, origin: testAuthEnv["PUBLIC_ORIGIN"] ?? "" }
        })
        assert.strictEqual(created.status, 201, created.text)
        const headers = { authorization: `Bearer ${String(field(created.body, "token"))}` }
        assert.strictEqual((yield* call(base, "POST", "/api/v1/admin/invites", { json: {}, headers })).status, 201)
        for (let i = 0; i < 5; i++) {
          const ping = yield* call(base, "POST", "/api/v1/debug/ping", { json: { message: `ping ${i}` }, headers })
          assert.strictEqual(ping.status, 202, ping.text)
        }
        const rule = yield* call(base, "POST", "/api/v1/rules", {
          json: {
            name: "Invoices",
            priority: 10,
            conditions: [{ field: "subject", op: "contains", value: "Rechnung" }],
            actions: [{ type: "addTag", tag: "invoice" }]
          },
          headers
        })
        assert.strictEqual(rule.status, 201, rule.text)
        const account = yield* call(base, "POST", "/api/v1/accounts", {
          json: {
            label: "backup",
            host: dovecot.host,
            port: dovecot.port,
            security: "none",
            username: "backup",
            password: imapPassword,
            syncIntervalMinutes: null
          },
          headers
        })
        assert.strictEqual(account.status, 201, account.text)
        const sync = yield* call(base, "POST", `/api/v1/accounts/${String(field(account.body, "id"))}/sync`, {
          headers
        })
        assert.strictEqual(sync.status, 202, sync.text)
        // every job (the sync, the analyses it queues, the pings) has ended
        yield* Effect.sync(() =>
          psqlValue(
            env.databaseUrl,
            "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')"
          )
        ).pipe(
          Effect.filterOrFail((open) => open === "0"),
          Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo({ times: 360 }))),
          Effect.orDie
        )
        yield* Effect.promise(() => api.stop())
        yield* Effect.promise(() => worker.stop())

        const source = fingerprint(env.databaseUrl)
        for (const table of [
          "users",
          "api_tokens",
          "invites",
          "jobs",
          "mail_accounts",
          "mailboxes",
          "emails",
          "rules"
        ]) {
          assert.isAbove(rowCount(source, table), 0, `${table} is empty: the test database is not populated`)
        }
        assert.isAtLeast(rowCount(source, "emails"), 40)
        assert.isAbove(Object.keys(source).length, 10)

        // --- back up ----------------------------------------------------------------------------
        const dir = mkdtempSync(join(tmpdir(), "mh-backup-"))
        const target = `${env.databaseName}_restored`
        const targetUrl = serverUrl(target)
        yield* Effect.addFinalizer(() =>
          Effect.promise(async () => {
            rmSync(dir, { recursive: true, force: true })
            await adminSql(`DROP DATABASE IF EXISTS ${target} WITH (FORCE)`)
          })
        )
        // retention: two expired dumps go, a recent one stays
        const recent = new Date(Date.now() - 2 * 86_400_000)
          .toISOString()
          .replace(/[-:]/g, "")
          .replace(/\.\d+Z$/, "Z")
        for (const stamp of ["20200101T000000Z", "20200102T000000Z", recent]) {
          writeFileSync(join(dir, `mail-helper-${stamp}.dump`), "old")
          writeFileSync(join(dir, `mail-helper-${stamp}.dump.sha256`), "old")
        }
        const backup = run("deploy/backup.sh", ["-d", dir, "-k", "14", "-m", "1"], {
          BACKUP_DATABASE_URL: env.databaseUrl
        })
        assert.strictEqual(backup.status, 0, `${backup.stdout}\n${backup.stderr}`)
        assert.include(backup.stdout, `dumping database '${env.databaseName}'`)
        const dumps = readdirSync(dir)
          .filter((name) => name.endsWith(".dump"))
          .sort()
        assert.strictEqual(dumps.length, 2, `retention left ${dumps.join(", ")}`)
        assert.include(dumps, `mail-helper-${recent}.dump`)
        const dump = join(dir, dumps.find((name) => name !== `mail-helper-${recent}.dump`) ?? "")
        assert.isTrue(existsSync(`${dump}.sha256`))
        assert.notInclude(backup.stdout + backup.stderr, env.databaseUrl, "the script printed the connection URL")

        // --- restore into a new database --------------------------------------------------------
        yield* Effect.promise(() => adminSql(`CREATE DATABASE ${target}`))
        const refused = run("deploy/restore.sh", [dump, targetUrl])
        assert.strictEqual(refused.status, 1, "restore.sh went on without --yes and without a terminal")
        assert.include(refused.stderr, "refusing to overwrite")
        const restored = run("deploy/restore.sh", ["--yes", dump, targetUrl])
        assert.strictEqual(restored.status, 0, `${restored.stdout}\n${restored.stderr}`)
        assert.include(restored.stdout, "checksum ok")
        assert.deepStrictEqual(fingerprint(targetUrl), source)
        assert.strictEqual(schemaOf(targetUrl), schemaOf(env.databaseUrl))

        // --- restore over a database that changed since: back to the dumped state ---------------
        psqlValue(targetUrl, "DELETE FROM emails WHERE id IN (SELECT id FROM emails LIMIT 5)")
        psqlValue(targetUrl, "UPDATE users SET email = 'changed@example.org'")
        assert.notDeepEqual(fingerprint(targetUrl), source)
        const again = run("deploy/restore.sh", ["--yes", dump, targetUrl])
        assert.strictEqual(again.status, 0, `${again.stdout}\n${again.stderr}`)
        assert.deepStrictEqual(fingerprint(targetUrl), source)

        // --- a damaged dump is refused before anything changes ----------------------------------
        const damaged = join(dir, "damaged.dump")
        const bytes = readFileSync(dump)
        bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff
        writeFileSync(damaged, bytes)
        const checksum = readFileSync(`${dump}.sha256`, "utf8").replace(/\S+$/m, "damaged.dump")
        writeFileSync(`${damaged}.sha256`, checksum)
        const rejected = run("deploy/restore.sh", ["--yes", damaged, targetUrl])
        assert.notStrictEqual(rejected.status, 0)
        assert.include(rejected.stderr, "checksum mismatch")
        assert.deepStrictEqual(fingerprint(targetUrl), source)
      }).pipe(Effect.scoped),
    { timeout: 180_000 }
  )
})
