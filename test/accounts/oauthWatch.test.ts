/**
 * An OAuth2 account is watched like a password account: the worker's watcher logs in with the
 * account's access token (XOAUTH2/OAUTHBEARER, checked by Dovecot's oauth2 passdb at the real
 * provider), reaches NOTIFY, and a message APPENDed on the server is stored without any sync the
 * test asks for; the account stays active. A watcher that read the (absent) password instead
 * would mark the account auth_failed on its first login.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { OAuthTokens } from "../../src/accounts/OAuthTokens.ts"
import { capturedLogs, OwnerDb } from "../sync/support.ts"
import { accountOf, MAILBOX, oauthWorld } from "./oauthSupport.ts"

const carol = "c7777777-7777-4777-8777-777777777777"

const {
  oidc,
  dovecot,
  layer: TestLayer,
  start,
  deliver,
  signIn
} = await oauthWorld({
  env: { WATCH_ENABLED: "true", WATCH_OWNERSHIP: "local", WATCH_REFRESH_SECONDS: "1" }
})

const poll = <A>(what: string, check: Effect.Effect<A | undefined>, timeoutMs = 60_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("250 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("OAuth2 accounts are watched", (it) => {
  it.effect(
    "the watcher logs in with the access token, reaches NOTIFY, and new mail is stored",
    () =>
      Effect.gen(function* () {
        oidc.nextLogin.sub = MAILBOX
        assert.strictEqual(yield* deliver(carol, yield* signIn(yield* start(carol))), "connected")
        const account = yield* accountOf(carol)
        assert.strictEqual(account.authKind, "oauth")

        // the watcher connects with the token (its own log line says the mode)
        const watching = yield* poll(
          "the watcher to reach NOTIFY",
          Effect.sync(() => capturedLogs.find((line) => line.includes("watching account") && line.includes(account.id)))
        )
        assert.include(watching, "notify")

        // a message APPENDed by another client, logged in with the account's own access token
        const tokens = yield* OAuthTokens
        const token = Redacted.value(yield* tokens.accessToken(account))
        const client = new ImapFlow({
          host: dovecot.host,
          port: dovecot.port,
          secure: false,
          auth: { user: MAILBOX, accessToken: token },
          logger: false
        })
        yield* Effect.promise(() => client.connect())
        yield* Effect.promise(() =>
          client.append(
            "INBOX",
            "From: b@example.org\r\nSubject: pushed to an oauth account\r\nMessage-ID: <push1@x>\r\n\r\nbody\r\n"
          )
        )
        yield* Effect.promise(() => client.logout())

        const sql = yield* OwnerDb
        yield* poll(
          "the APPENDed message to be stored",
          sql<{ n: number }>`SELECT count(*)::int AS n FROM emails WHERE subject = 'pushed to an oauth account'`.pipe(
            Effect.orDie,
            Effect.map((rows) => ((rows[0]?.n ?? 0) > 0 ? true : undefined))
          )
        )
        const after = yield* accountOf(carol)
        assert.strictEqual(after.status, "active", after.statusMessage ?? "")
      }),
    150_000
  )
})
