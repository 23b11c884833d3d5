import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { AccountsLive } from "../../src/accounts/AccountsLive.ts"
import { AccountStore, passwordAssociatedData } from "../../src/accounts/AccountStore.ts"
import { rotateSecrets } from "../../src/accounts/KeyRotation.ts"
import { accessAssociatedData, OAuthStore, refreshAssociatedData } from "../../src/accounts/OAuthStore.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { Crypto, makeCrypto, parseKeyring } from "../../src/platform/Crypto.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { secretData } from "../../src/webhooks/WebhookDelivery.ts"
import { configLayer, makeTestEnv, type TestEnv } from "../harness/TestEnv.ts"
import { OwnerDb, ownerDbLayer, ownerQuery } from "../sync/support.ts"

class Env extends Context.Service<Env, TestEnv>()("test/keys/Env") {}

const key = () => randomBytes(32).toString("base64")
const k1 = key()
const k2 = key()
const k3 = key()
const k4 = key()
const keyring = (spec: string) => {
  const parsed = parseKeyring(spec)
  if (typeof parsed === "string") throw new Error(parsed)
  return makeCrypto(parsed)
}

// accounts are created under key 1 only
const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({ SECRET_KEYS: `1:${k1}` }), (env) =>
    Layer.mergeAll(AccountsLive, ownerDbLayer(env), Layer.succeed(Env, env)).pipe(
      Layer.provideMerge(JobsLive),
      Layer.provideMerge(PlatformLive),
      Layer.provide(configLayer(env))
    )
  )
)

const owners = [
  UserId.make("d4444444-4444-4444-8444-444444444441"),
  UserId.make("d4444444-4444-4444-8444-444444444442")
]
const Sealed = Schema.Struct({ id: Schema.String, sealed: Schema.String })
const sealedRows = ownerQuery(
  Sealed,
  (sql) =>
    sql`SELECT id::text AS id, password_sealed AS sealed FROM mail_accounts WHERE password_sealed IS NOT NULL ORDER BY id`
)

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("keys rotate", (it) => {
  it.effect(
    "re-encrypts every user's secrets under the newest key, idempotently, and reports what it could not open",
    () =>
      Effect.gen(function* () {
        const sql = yield* OwnerDb
        for (const owner of owners) {
          yield* sql`INSERT INTO users (id, email, password_hash) VALUES (${owner}, ${`${owner}@test.invalid`}, '!')`
        }
        const store = yield* AccountStore
        const passwords = new Map<string, string>()
        for (let i = 0; i < 5; i++) {
          const owner = owners[i % 2] ?? owners[0]
          if (owner === undefined) continue
          const id = AccountId.make(crypto.randomUUID())
          const password = `pw-${i}-${key()}`
          passwords.set(id, password)
          yield* store.insert(owner, {
            id,
            label: `a${i}`,
            host: "imap.example.org",
            port: 993,
            security: "tls",
            username: `user${i}`,
            password: Redacted.make(password),
            syncIntervalMinutes: null
          })
        }
        for (const row of yield* sealedRows) assert.match(row.sealed, /^v1\./)
        // an OAuth2 account: no password (NULL is skipped), a sealed refresh and access token
        const oauthOwner = owners[0] ?? UserId.make("d4444444-4444-4444-8444-444444444441")
        const oauthAccount = yield* store.insertOAuth(oauthOwner, {
          id: AccountId.make(crypto.randomUUID()),
          label: "oauth",
          host: "imap.example.org",
          port: 993,
          security: "tls",
          username: "oauth@example.org",
          provider: "corp",
          syncIntervalMinutes: null
        })
        const grants = yield* OAuthStore
        yield* grants.saveGrant(oauthOwner, oauthAccount.id, "subject", {
          refreshToken: Redacted.make("refresh-token-secret"),
          accessToken: Redacted.make("access-token-secret"),
          accessExpiresAt: new Date(Date.now() + 3_600_000)
        })

        // a webhook's signing secret, sealed under key 1 as WebhookStore writes it
        const webhookId = crypto.randomUUID()
        const webhookSecret = `whsec_${key()}`
        const webhookSealed = yield* keyring(`1:${k1}`).encrypt(Redacted.make(webhookSecret), secretData(webhookId))
        yield* sql`INSERT INTO webhooks (id, user_id, url, events, sealed_secret)
                   VALUES (${webhookId}, ${oauthOwner}, 'https://hooks.example/in', '{mail.stored}', ${webhookSealed})`

        const v2 = keyring(`1:${k1},2:${k2}`)
        const first = yield* rotateSecrets.pipe(Effect.provideService(Crypto, Crypto.of(v2)))
        assert.deepStrictEqual(
          first.map(({ table, total, rotated, alreadyCurrent, failed }) => ({
            table,
            total,
            rotated,
            alreadyCurrent,
            failed
          })),
          [
            { table: "mail_accounts", total: 5, rotated: 5, alreadyCurrent: 0, failed: [] },
            { table: "oauth_grants", total: 1, rotated: 1, alreadyCurrent: 0, failed: [] },
            { table: "oauth_grants", total: 1, rotated: 1, alreadyCurrent: 0, failed: [] },
            { table: "webhooks", total: 1, rotated: 1, alreadyCurrent: 0, failed: [] }
          ]
        )
        // the webhook's signing secret opens with key 2 alone, under the associated data deliveries use
        const [hook] = yield* sql<{
          sealed: string
        }>`SELECT sealed_secret AS sealed FROM webhooks WHERE id = ${webhookId}`
        assert.match(hook?.sealed ?? "", /^v2\./)
        const opened = yield* keyring(`2:${k2}`)
          .decrypt(hook?.sealed ?? "", secretData(webhookId))
          .pipe(Effect.orDie)
        assert.strictEqual(Redacted.value(opened), webhookSecret)
        // the grant's tokens open with key 2 alone, on their own row and column
        const grant = yield* grants.findGrant(oauthOwner, oauthAccount.id).pipe(Effect.orDie)
        if (grant._tag === "None" || grant.value.accessSealed === null) return assert.fail("grant missing")
        const refreshOpened = yield* keyring(`2:${k2}`).decrypt(
          grant.value.refreshSealed,
          refreshAssociatedData(oauthAccount.id)
        )
        assert.strictEqual(Redacted.value(refreshOpened), "refresh-token-secret")
        const accessOpened = yield* keyring(`2:${k2}`).decrypt(
          grant.value.accessSealed,
          accessAssociatedData(oauthAccount.id)
        )
        assert.strictEqual(Redacted.value(accessOpened), "access-token-secret")
        // every secret is now under key 2 and opens with key 2 alone
        const only2 = keyring(`2:${k2}`)
        for (const row of yield* sealedRows) {
          assert.match(row.sealed, /^v2\./)
          const opened = yield* only2.decrypt(row.sealed, passwordAssociatedData(row.id))
          assert.strictEqual(Redacted.value(opened), passwords.get(row.id))
        }
        // idempotent
        const second = yield* rotateSecrets.pipe(Effect.provideService(Crypto, Crypto.of(v2)))
        assert.strictEqual(second[0]?.rotated, 0)
        assert.strictEqual(second[0]?.alreadyCurrent, 5)

        // a value no key opens (here: another row's ciphertext) is reported, not "rotated"
        const rows = yield* sealedRows
        const [a, b] = rows
        if (a === undefined || b === undefined) return assert.fail("rows missing")
        yield* sql`UPDATE mail_accounts SET password_sealed = ${b.sealed.replace(/^v2\./, "v1.")} WHERE id = ${a.id}`
        const third = yield* rotateSecrets.pipe(
          Effect.provideService(Crypto, Crypto.of(keyring(`1:${k1},2:${k2},3:${k3}`)))
        )
        assert.strictEqual(third[0]?.rotated, 4)
        assert.strictEqual(third[0]?.failed.length, 1)
        assert.strictEqual(third[0]?.failed[0]?.id, a.id)
        for (const password of passwords.values()) assert.notInclude(JSON.stringify(third), password)
      })
  )

  it.effect("`cli keys rotate` runs across users and prints counts, never a secret", () =>
    Effect.gen(function* () {
      const env = yield* Env
      const result = spawnSync(process.execPath, ["--import", "tsx", "src/main/cli.ts", "keys", "rotate"], {
        env: { ...process.env, ...env.env, SECRET_KEYS: `1:${k1},2:${k2},3:${k3},4:${k4}`, LOG_LEVEL: "Warn" },
        encoding: "utf8",
        timeout: 60_000
      })
      const output = `${result.stdout}${result.stderr}`
      // the row broken by the previous test is reported and makes the exit code 1
      assert.match(
        output,
        /mail_accounts\.password_sealed: 5 secrets, 4 re-encrypted under key v4, 0 already current, 0 changed meanwhile, 1 failed/
      )
      assert.strictEqual(result.status, 1, output)
      assert.notInclude(output, k4)
      const versions = (yield* sealedRows).map((row) => row.sealed.split(".")[0])
      assert.deepStrictEqual(
        versions.filter((version) => version === "v4").length,
        4,
        `versions after the CLI: ${versions.join(", ")}`
      )
      const again = spawnSync(process.execPath, ["--import", "tsx", "src/main/cli.ts", "keys", "rotate"], {
        env: { ...process.env, ...env.env, SECRET_KEYS: `1:${k1},2:${k2},3:${k3},4:${k4}`, LOG_LEVEL: "Warn" },
        encoding: "utf8",
        timeout: 60_000
      })
      assert.match(
        `${again.stdout}`,
        /5 secrets, 0 re-encrypted under key v4, 4 already current, 0 changed meanwhile, 1 failed/
      )
    })
  )
})
