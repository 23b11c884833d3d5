/**
 * A sync that fails before the IMAP session tells the user why, on the account: the stored
 * password no longer decrypts (its key left SECRET_KEYS), or the stored host is refused by the
 * destination policy that was switched on after the account was created. Both are permanent:
 * one attempt, no retry loop. The real path runs: the API's "sync now", the worker's mail.sync
 * job, MailSync, a real test database and BullMQ.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Option, Redacted, Schema } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { AccountSchedules } from "../../src/accounts/AccountSchedules.ts"
import { AccountStore, passwordAssociatedData } from "../../src/accounts/AccountStore.ts"
import { makeCrypto, parseKeyring } from "../../src/platform/Crypto.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { api, baseUrl, capturedLogs, field, OwnerDb, syncNow, syncTestLayer } from "./support.ts"

const owner = "c3333333-3333-4333-8333-333333333333"
const retiredKey = randomBytes(32).toString("base64")
const currentKey = randomBytes(32).toString("base64")

const TestLayer = syncTestLayer({
  worker: true,
  env: {
    // key 1 was retired: only key 2 is left
    SECRET_KEYS: `2:${currentKey}`,
    IMAP_DESTINATION_POLICY: "public-only"
  },
  dovecot: { users: [] }
})

/**
 * An account row as an earlier configuration left it (no login check now: the host may be one the
 * policy refuses today), with a scheduler every 5 minutes, as the API would have set up.
 */
/**
 * `schedule: false` for a test that must be the only sync of its account: a BullMQ job scheduler
 * fires its first sync at once, which would race the test's own.
 */
const storedAccount = (
  host: string,
  {
    schedule = true,
    beforeSchedule = () => Effect.void
  }: {
    readonly schedule?: boolean
    readonly beforeSchedule?: (accountId: AccountId) => Effect.Effect<void, never, OwnerDb>
  } = {}
) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    // the stand-in authentication creates the user on first sight
    assert.strictEqual((yield* api(base, owner, "GET", "/api/v1/accounts")).status, 200)
    const store = yield* AccountStore
    const schedules = yield* AccountSchedules
    const record = yield* store.insert(Schema.decodeUnknownSync(UserId)(owner), {
      id: Schema.decodeUnknownSync(AccountId)(randomUUID()),
      label: `stored ${host}`,
      host,
      port: 143,
      security: "none",
      username: `user-${randomUUID()}`,
      password: Redacted.make("stored-Passw0rd!"),
      syncIntervalMinutes: 5
    })
    // what the test changes in the row happens before the scheduler exists: its first sync fires at
    // once, and must meet the row as the test means it (it raced the change before)
    yield* beforeSchedule(record.id)
    if (schedule) {
      yield* schedules.apply(record)
      assert.isTrue(Option.isSome(yield* schedules.next(record.id)), "the account starts with a scheduler")
    }
    return record.id
  })

/** The row's password as key 1 sealed it, before key 1 left SECRET_KEYS. */
const sealUnderRetiredKey = (accountId: string) =>
  Effect.gen(function* () {
    const retired = parseKeyring(`1:${retiredKey}`)
    if (typeof retired === "string") throw new Error(retired)
    const sealed = yield* makeCrypto(retired).encrypt(
      Redacted.make("stored-Passw0rd!"),
      passwordAssociatedData(accountId)
    )
    const sql = yield* OwnerDb
    yield* sql`UPDATE mail_accounts SET password_sealed = ${sealed} WHERE id = ${accountId}`.pipe(Effect.orDie)
  })

const accountState = (accountId: string) =>
  Effect.gen(function* () {
    const base = yield* baseUrl
    const response = yield* api(base, owner, "GET", `/api/v1/accounts/${accountId}`)
    assert.strictEqual(response.status, 200, response.text)
    return { status: field(response.body, "status"), message: String(field(response.body, "statusMessage")) }
  })

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })("a sync that fails before IMAP", (it) => {
  it.effect("a password sealed under a retired key: auth_failed, 're-enter the password', no retries", () =>
    Effect.gen(function* () {
      const accountId = yield* storedAccount("imap.example.com", { beforeSchedule: sealUnderRetiredKey })
      const base = yield* baseUrl
      const job = yield* syncNow(base, owner, accountId)
      assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
      assert.strictEqual(field(job, "attempts"), 1, "permanent: no retry")
      assert.strictEqual(field(job, "error", "code"), "secret_unreadable")

      const account = yield* accountState(accountId)
      assert.strictEqual(account.status, "auth_failed")
      assert.include(account.message, "the stored IMAP password could not be read")
      assert.include(account.message, "unknown key version v1")
      assert.include(account.message, "enter the account's password again")
      assert.notInclude(account.message, "stored-Passw0rd!")
      // no scheduled sync fails again every 5 minutes until the user enters the password
      const schedules = yield* AccountSchedules
      assert.isTrue(Option.isNone(yield* schedules.next(accountId)), "the scheduler was removed")
    })
  )

  it.effect(
    "a host the destination policy now refuses: unreachable, 'not an allowed IMAP destination', no retries",
    () =>
      Effect.gen(function* () {
        const accountId = yield* storedAccount("127.0.0.1")
        const base = yield* baseUrl
        const job = yield* syncNow(base, owner, accountId)
        assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
        assert.strictEqual(field(job, "attempts"), 1, "permanent: no retry")
        assert.strictEqual(field(job, "error", "code"), "unreachable_not_allowed")

        const account = yield* accountState(accountId)
        assert.strictEqual(account.status, "unreachable")
        assert.include(account.message, "connecting failed")
        assert.include(account.message, "127.0.0.1 is not an allowed IMAP destination")
        assert.include(account.message, "IMAP_DESTINATION_POLICY=public-only")
      })
  )

  it.effect("a status the database refuses to save is logged, and the job's verdict stands", () =>
    Effect.gen(function* () {
      const accountId = yield* storedAccount("imap2.example.com", { schedule: false })
      yield* sealUnderRetiredKey(accountId)
      const sql = yield* OwnerDb
      // this account's status cannot be changed any more
      yield* sql
        .unsafe(`CREATE FUNCTION test_refuse_status() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'status change refused by the test'; END $$`)
        .pipe(Effect.orDie)
      yield* sql
        .unsafe(`CREATE TRIGGER test_refuse_status BEFORE UPDATE OF status ON mail_accounts FOR EACH ROW
          WHEN (NEW.id = '${Schema.decodeUnknownSync(AccountId)(accountId)}') EXECUTE FUNCTION test_refuse_status()`)
        .pipe(Effect.orDie)
      const logged = capturedLogs.length
      const base = yield* baseUrl
      const outcome = Effect.gen(function* () {
        const job = yield* syncNow(base, owner, accountId)
        // read while the trigger still stands: once it is gone, a scheduled sync of this account may
        // save auth_failed on its own
        const state = yield* accountState(accountId)
        return { job, state }
      })
      const { job, state } = yield* outcome.pipe(
        Effect.ensuring(
          Effect.all([
            sql.unsafe("DROP TRIGGER test_refuse_status ON mail_accounts"),
            sql.unsafe("DROP FUNCTION test_refuse_status()")
          ]).pipe(Effect.orDie)
        )
      )
      assert.strictEqual(field(job, "state"), "failed", JSON.stringify(job))
      assert.strictEqual(field(job, "attempts"), 1)
      assert.strictEqual(field(job, "error", "code"), "secret_unreadable")
      const warning = capturedLogs.slice(logged).find((line) => line.includes("account status not saved"))
      assert.isDefined(warning, "the lost status was logged")
      assert.include(String(warning), accountId)
      assert.include(String(warning), "auth_failed")
      assert.isTrue(
        capturedLogs.slice(logged).some((line) => line.includes("status change refused by the test")),
        "the database's reason was logged"
      )
      assert.strictEqual(state.status, "active", "the refused status was not saved")
    })
  )
})
