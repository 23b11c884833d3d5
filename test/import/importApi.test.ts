/**
 * `POST /api/v1/import/ki-mail-helper` (issue 21, the API variant of `import ki-mail-helper`): a
 * signed-in user uploads their old SQLite file; an `import.kiMailHelper` job imports it for them, and
 * its result is the CLI's report as data. Real PostgreSQL, Redis and an in-process worker. Off unless
 * the admin enables it; the file and the master password are staged sealed (import_uploads) and
 * deleted when the job ends; no secret reaches a job payload, a log line or an API answer.
 */
import { NodeHttpServer } from "@effect/platform-node"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, layer } from "@effect/vitest"
import { Cause, Effect, Layer, Logger, Option, Redacted, References, Schedule, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { SqlClient } from "effect/sql"
import { UserId } from "../../src/contract/users/UserId.ts"
import { ImportUploadStore } from "../../src/import/ImportUploadStore.ts"
import { Crypto } from "../../src/platform/Crypto.ts"
import { HttpAppLive } from "../../src/main/httpLayers.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import { configLayer, withTestEnv } from "../harness/TestEnv.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { ensureTestUser } from "../users/fixtures.ts"
import { IMAP_PASSWORD, IMAP_USER, installation, MASTER_PASSWORD, mappableRules } from "./fixture.ts"
import { writeSqlite } from "./oldInstallation.ts"

const MAX_BYTES = 2 * 1024 * 1024

/** Every log line of the test process (Debug and up), to check that no secret lands in one. */
const logs: Array<string> = []
const CaptureLogs = Layer.mergeAll(
  Logger.layer([
    Logger.make<unknown, void>((options) => {
      logs.push(
        `${options.logLevel} ${JSON.stringify(options.message)} ${JSON.stringify(
          options.fiber.getRef(References.CurrentLogAnnotations)
        )} ${options.cause.reasons.length > 0 ? Cause.pretty(options.cause) : ""}`
      )
    })
  ]),
  Layer.succeed(References.MinimumLogLevel, "Debug")
)

const testLayer = (env: Record<string, string>) =>
  withTestEnv(
    (testEnv) =>
      Layer.mergeAll(
        HttpRouter.serve(HttpAppLive(TestAuthenticationLive), { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layerTest)
        ),
        WorkerLive,
        ImportUploadStore.layer.pipe(Layer.provideMerge(Crypto.layer))
      ).pipe(
        Layer.provideMerge(JobsLive),
        Layer.provideMerge(PlatformLive),
        Layer.provide(configLayer(testEnv)),
        Layer.provideMerge(CaptureLogs)
      ),
    env
  )

const anna = UserId.make("a8888888-8888-4888-8888-888888888881")
const bert = UserId.make("a8888888-8888-4888-8888-888888888882")
const carl = UserId.make("a8888888-8888-4888-8888-888888888883")
const emailOf = (id: UserId) => `${id}@test.invalid`
const as = (user: UserId) => ({ "x-test-user": user })

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mh-import-api-"))
const oldFile = (owner: UserId) => {
  const file = path.join(tmp, `${owner}.db`)
  if (!fs.existsSync(file)) writeSqlite(file, installation(emailOf(owner), "imap.example.org", 993))
  return fs.readFileSync(file)
}

/** Every answer the test saw, to check that no secret appears in one. */
const answers: Array<string> = []

const upload = (
  base: string,
  user: UserId,
  body: Uint8Array,
  options: { readonly password?: string; readonly dryRun?: boolean } = {}
) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}/api/v1/import/ki-mail-helper${options.dryRun ? "?dryRun=true" : ""}`, {
      method: "POST",
      headers: {
        ...as(user),
        "content-type": "application/octet-stream",
        "x-import-master-password": Buffer.from(options.password ?? MASTER_PASSWORD).toString("base64")
      },
      body
    })
    const text = await response.text()
    answers.push(text)
    return { status: response.status, body: JSON.parse(text) as unknown }
  })

/** Where the API writes uploads while they arrive (IMPORT_UPLOAD_TEMP_DIR of the enabled layer). */
const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), "mh-import-spool-"))
/** The upload files under spoolDir (each upload has a directory of its own), with their sizes. */
const spooled = () =>
  fs
    .readdirSync(spoolDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => fs.statSync(path.join(entry.parentPath, entry.name)).size)
/** What is left under spoolDir once the server has had up to 10 s to clean up. */
const leftInSpool = Effect.promise(async () => {
  for (let i = 0; i < 100 && fs.readdirSync(spoolDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100))
  return fs.readdirSync(spoolDir)
})

const rawUpload = (base: string, user: UserId) =>
  http.request(`${base}/api/v1/import/ki-mail-helper`, {
    method: "POST",
    headers: {
      ...as(user),
      "content-type": "application/octet-stream",
      "x-import-master-password": Buffer.from(MASTER_PASSWORD).toString("base64")
    }
  })

/**
 * A client that never stops sending: chunks until the server answers (or gives up after 50 times
 * the cap, which fails the test). The status and how much was sent by then.
 */
const endlessUpload = (base: string, user: UserId) =>
  Effect.promise(
    () =>
      new Promise<{ readonly status: number | undefined; readonly sent: number }>((resolve, reject) => {
        let sent = 0
        let answered = false
        const request = rawUpload(base, user)
        request.on("response", (response) => {
          answered = true
          resolve({ status: response.statusCode, sent })
          request.destroy()
        })
        // the server may close the connection as it answers; only an error before the answer counts
        request.on("error", (error) => {
          if (!answered)
            reject(new Error(`the endless upload broke off before an answer, after ${sent} bytes`, { cause: error }))
        })
        const chunk = Buffer.alloc(64 * 1024)
        const pump = () => {
          while (!answered && !request.destroyed) {
            if (sent > 50 * MAX_BYTES) {
              request.destroy()
              reject(new Error(`no answer after ${sent} bytes`))
              return
            }
            sent += chunk.length
            if (!request.write(chunk)) {
              request.once("drain", pump)
              return
            }
          }
        }
        pump()
      })
  )

/**
 * Sends `body` without ending it, waits until the server has written all of it to a temporary file
 * (true), or 20 s (false), then hangs up.
 */
const hangUpMidUpload = (base: string, user: UserId, body: Uint8Array) =>
  Effect.promise(async () => {
    const request = rawUpload(base, user)
    request.on("error", () => {})
    request.write(body)
    let onDisk = false
    for (let i = 0; i < 200 && !onDisk; i++) {
      await new Promise((r) => setTimeout(r, 100))
      onDisk = spooled().includes(body.length)
    }
    request.destroy()
    return onDisk
  })

const getJob = (base: string, user: UserId, id: string) =>
  call(base, "GET", `/api/v1/jobs/${id}`, { headers: as(user) }).pipe(
    Effect.tap((response) => Effect.sync(() => answers.push(response.text)))
  )

const finished = (base: string, user: UserId, id: string) =>
  getJob(base, user, id).pipe(
    Effect.flatMap((response) => {
      const state = String(field(response.body, "state"))
      return ["succeeded", "failed", "cancelled"].includes(state)
        ? Effect.succeed(response.body)
        : Effect.fail(`still ${state}`)
    }),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const Count = Schema.Struct({ n: Schema.Number })
/** Rows across every user (the system role): what RLS hides from a user is still counted here. */
const countRows = (table: "import_uploads" | "mail_accounts" | "rules" | "jobs", owner: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    const rows = yield* scope.system("test", sql`SELECT count(*)::int AS n FROM ${sql(table)} WHERE user_id = ${owner}`)
    return Schema.decodeUnknownSync(Schema.Array(Count))(rows)[0]?.n ?? -1
  }).pipe(Effect.orDie)

/** Every job payload, result and error stored, as text. */
const storedJobs = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const scope = yield* UserScope
  const rows = yield* scope.system(
    "test",
    sql`SELECT payload::text AS payload, coalesce(result::text, '') AS result, coalesce(error_message, '') AS error
        FROM jobs`
  )
  return JSON.stringify(rows)
}).pipe(Effect.orDie)

describe("disabled (the default)", () => {
  layer(testLayer({}), { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("the endpoint answers 404 ImportUploadDisabled and stages nothing", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        const base = yield* baseUrl
        const response = yield* upload(base, anna, oldFile(anna))
        assert.strictEqual(response.status, 404)
        assert.strictEqual(field(response.body, "_tag"), "ImportUploadDisabled")
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
        assert.strictEqual(yield* countRows("mail_accounts", anna), 0)
      })
    )
  })
})

describe("enabled", () => {
  layer(
    testLayer({
      IMPORT_UPLOAD_ENABLED: "true",
      IMPORT_UPLOAD_MAX_BYTES: String(MAX_BYTES),
      IMPORT_UPLOAD_TEMP_DIR: spoolDir
    }),
    {
      timeout: 120_000,
      excludeTestServices: true
    }
  )((it) => {
    it.effect("a wrong master password fails the job with its code, writes nothing, deletes the staging row", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        const base = yield* baseUrl
        const accepted = yield* upload(base, anna, oldFile(anna), { password: "not the password" })
        assert.strictEqual(accepted.status, 202)
        const job = yield* finished(base, anna, String(field(accepted.body, "jobId")))
        assert.strictEqual(field(job, "state"), "failed")
        assert.strictEqual(field(job, "error", "code"), "wrong_master_password")
        assert.strictEqual(yield* countRows("mail_accounts", anna), 0)
        assert.strictEqual(yield* countRows("rules", anna), 0)
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
      })
    )

    it.effect("a dry run reports and writes nothing", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        const base = yield* baseUrl
        const accepted = yield* upload(base, anna, oldFile(anna), { dryRun: true })
        const job = yield* finished(base, anna, String(field(accepted.body, "jobId")))
        assert.strictEqual(field(job, "state"), "succeeded")
        assert.strictEqual(field(job, "result", "dryRun"), true)
        assert.strictEqual(yield* countRows("mail_accounts", anna), 0)
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
      })
    )

    it.effect("the upload is imported for the signed-in user; the report is the job's result", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        yield* ensureTestUser(bert)
        const base = yield* baseUrl
        const accepted = yield* upload(base, anna, oldFile(anna))
        assert.strictEqual(accepted.status, 202)
        const jobId = String(field(accepted.body, "jobId"))
        const job = yield* finished(base, anna, jobId)
        assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(field(job, "error")))
        const counts = field(job, "result", "counts")
        assert.ok(Array.isArray(counts))
        const ofKind = (kind: string) => counts.find((entry) => field(entry, "kind") === kind)
        assert.strictEqual(field(ofKind("account"), "imported"), 1)
        assert.strictEqual(field(ofKind("rule"), "imported"), mappableRules.length)
        assert.ok(Number(field(ofKind("rule"), "unmapped")) > 0)
        assert.strictEqual(yield* countRows("mail_accounts", anna), 1)
        assert.strictEqual(yield* countRows("rules", anna), mappableRules.length)
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
        // only anna's rows came along, and another user cannot read her job
        assert.strictEqual(yield* countRows("mail_accounts", bert), 0)
        const foreign = yield* getJob(base, bert, jobId)
        assert.strictEqual(foreign.status, 404)
      })
    )

    it.effect(
      "another user uploading someone else's file imports nothing: the old user is matched by the caller's email",
      () =>
        Effect.gen(function* () {
          yield* ensureTestUser(bert)
          const base = yield* baseUrl
          const accepted = yield* upload(base, bert, oldFile(anna))
          const job = yield* finished(base, bert, String(field(accepted.body, "jobId")))
          assert.strictEqual(field(job, "state"), "failed")
          assert.strictEqual(field(job, "error", "code"), "import_user_not_found")
          assert.strictEqual(yield* countRows("mail_accounts", bert), 0)
          assert.strictEqual(yield* countRows("import_uploads", bert), 0)
        })
    )

    it.effect("another user cannot read a staged upload (row-level security)", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        yield* ensureTestUser(bert)
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        yield* scope.run(
          anna,
          sql`INSERT INTO import_uploads (user_id, sealed_file, sealed_password) VALUES (${anna}, 'x', 'y')`
        )
        const seenByBert = yield* scope.run(bert, sql`SELECT id FROM import_uploads`)
        const seenByAnna = yield* scope.run(anna, sql`SELECT id FROM import_uploads`)
        assert.strictEqual(seenByBert.length, 0)
        assert.strictEqual(seenByAnna.length, 1)
        yield* scope.run(anna, sql`DELETE FROM import_uploads`)
      }).pipe(Effect.orDie)
    )

    it.effect("a staged upload is sealed at rest; the clean-up deletes rows older than a day, not newer ones", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        const uploads = yield* ImportUploadStore
        const sql = yield* SqlClient.SqlClient
        const scope = yield* UserScope
        const file = oldFile(anna)
        const fresh = yield* uploads.stage(anna, { file, masterPassword: Redacted.make(MASTER_PASSWORD) })
        const old = yield* uploads.stage(anna, { file, masterPassword: Redacted.make(MASTER_PASSWORD) })
        const stored = JSON.stringify(yield* scope.system("test", sql`SELECT * FROM import_uploads`))
        assert.notInclude(stored, MASTER_PASSWORD)
        assert.notInclude(stored, file.toString("base64").slice(0, 64))
        yield* scope.system(
          "test",
          sql`UPDATE import_uploads SET created_at = now() - interval '25 hours' WHERE id = ${old}`
        )
        assert.strictEqual(yield* uploads.removeStale, 1)
        assert.ok(Option.isNone(yield* uploads.read(anna, old)))
        const kept = yield* uploads.read(anna, fresh)
        assert.ok(Option.isSome(kept) && Buffer.from(kept.value.file).equals(file))
        assert.ok(Option.isSome(kept) && Redacted.value(kept.value.masterPassword) === MASTER_PASSWORD)
        // another user's id finds nothing
        assert.ok(Option.isNone(yield* uploads.read(bert, fresh)))
        yield* uploads.remove(anna, fresh)
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
      }).pipe(Effect.orDie)
    )

    it.effect("a body over IMPORT_UPLOAD_MAX_BYTES is refused with 413; a non-SQLite body with 400", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(anna)
        const base = yield* baseUrl
        const big = new Uint8Array(MAX_BYTES + 1)
        big.set(oldFile(anna).subarray(0, 16))
        const tooLarge = yield* upload(base, anna, big)
        assert.strictEqual(tooLarge.status, 413)
        assert.strictEqual(field(tooLarge.body, "_tag"), "ImportUploadTooLarge")
        const notSqlite = yield* upload(base, anna, new TextEncoder().encode("hello"))
        assert.strictEqual(notSqlite.status, 400)
        assert.strictEqual(field(notSqlite.body, "_tag"), "ImportUploadInvalid")
        assert.strictEqual(yield* countRows("import_uploads", anna), 0)
      })
    )

    it.effect("an endless body is cut at IMPORT_UPLOAD_MAX_BYTES with 413 and leaves no temporary file", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(carl)
        const base = yield* baseUrl
        const answer = yield* endlessUpload(base, carl)
        assert.strictEqual(answer.status, 413, `after ${answer.sent} bytes`)
        assert.isAbove(answer.sent, MAX_BYTES)
        assert.deepStrictEqual(yield* leftInSpool, [])
        assert.strictEqual(yield* countRows("import_uploads", carl), 0)
        assert.strictEqual(yield* countRows("jobs", carl), 0)
      })
    )

    it.effect("an upload arrives in a temporary file; a client hanging up mid-upload leaves no file and no job", () =>
      Effect.gen(function* () {
        yield* ensureTestUser(carl)
        const base = yield* baseUrl
        const half = new Uint8Array(MAX_BYTES / 2)
        half.set(oldFile(anna).subarray(0, 16))
        assert.isTrue(
          yield* hangUpMidUpload(base, carl, half),
          "the received half was written to IMPORT_UPLOAD_TEMP_DIR"
        )
        assert.deepStrictEqual(yield* leftInSpool, [])
        assert.strictEqual(yield* countRows("import_uploads", carl), 0)
        assert.strictEqual(yield* countRows("jobs", carl), 0)
      })
    )

    it.effect("no secret in any job payload, result, error, log line or API answer", () =>
      Effect.gen(function* () {
        const jobs = yield* storedJobs
        assert.include(jobs, "uploadId")
        for (const secret of [MASTER_PASSWORD, IMAP_PASSWORD, `"${IMAP_USER}"`, "not the password"]) {
          assert.notInclude(jobs, secret, "a stored job")
          assert.ok(!logs.some((line) => line.includes(secret)), `a log line holds ${secret}`)
          assert.ok(!answers.some((text) => text.includes(secret)), `an API answer holds ${secret}`)
        }
      })
    )
  })
})
