/**
 * The OAuth2 tests' world: a real OpenID provider (oidc-provider, in this process) and a Dovecot
 * whose `oauth2` passdb checks every token at the provider's introspection endpoint, the API (and
 * optionally the worker) over them, and the user's side of the flow (start, sign in, callback).
 */
import { afterAll, assert } from "@effect/vitest"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Schema } from "effect"
import { AccountStore } from "../../src/accounts/AccountStore.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import { startDovecot } from "../harness/dovecot.ts"
import { startOidcProvider } from "../harness/oidcProvider.ts"
import { baseUrl, field, OwnerDb, seenResponses, syncTestLayer } from "../sync/support.ts"

export const ORIGIN = "http://mail-helper.test"
export const PROVIDER = "corp"
export const CALLBACK = `${ORIGIN}/api/v1/oauth/${PROVIDER}/callback`
export const MAILBOX = "alice@mail.test"

/** Starts the provider and the Dovecot (stopped after the file) and builds the test layer. */
export const oauthWorld = async (options: {
  readonly spanProcessor?: SpanProcessor
  readonly env?: Record<string, string>
}) => {
  const oidc = await startOidcProvider({ redirectUris: [CALLBACK], accessTokenTtl: 300 })
  const dovecot = await startDovecot({
    users: [{ user: MAILBOX, pass: "unused-password-of-the-userdb" }],
    oauth2: {
      introspectionUrl: `http://${oidc.introspector.clientId}:${oidc.introspector.clientSecret}@127.0.0.1:${oidc.port}/token/introspection`,
      usernameAttribute: "sub"
    }
  })
  afterAll(async () => {
    await dovecot.stop()
    await oidc.stop()
  })
  const layer = syncTestLayer({
    worker: true,
    ...(options.spanProcessor === undefined ? {} : { spanProcessor: options.spanProcessor }),
    env: {
      OAUTH_PUBLIC_ORIGIN: ORIGIN,
      OAUTH_PROVIDERS: JSON.stringify([
        {
          kind: "oidc",
          name: PROVIDER,
          label: "Corp ID",
          issuer: oidc.issuer,
          clientId: oidc.app.clientId,
          clientSecret: oidc.app.clientSecret,
          usernameClaim: "email",
          allowInsecureHttp: true,
          imap: { host: dovecot.host, port: dovecot.port, security: "none" }
        }
      ]),
      ...options.env
    },
    dovecotServer: dovecot
  })
  /** Every redirect the callback answered (Location), to look for tokens. */
  const redirects: Array<string> = []
  const session = (user: string, name = "one") => ({ "x-test-user": user, cookie: `mh_session=${user}-${name}` })

  const start = (user: string, name = "one") =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const response = yield* Effect.promise(() =>
        fetch(`${base}/api/v1/oauth/${PROVIDER}/start`, { method: "POST", headers: session(user, name) })
      )
      const text = yield* Effect.promise(() => response.text())
      seenResponses.push(text)
      assert.strictEqual(response.status, 200, text)
      return String(field(JSON.parse(text), "authorizationUrl"))
    })

  /** The provider's redirect (code, state) delivered to our callback; answers the outcome code. */
  const deliver = (user: string, providerRedirect: URL, name = "one") =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      const response = yield* Effect.promise(() =>
        fetch(`${base}/api/v1/oauth/${PROVIDER}/callback${providerRedirect.search}`, {
          redirect: "manual",
          headers: session(user, name)
        })
      )
      const location = response.headers.get("location") ?? ""
      redirects.push(location)
      seenResponses.push(yield* Effect.promise(() => response.text()))
      assert.strictEqual(response.status, 302)
      return new URL(location, base).searchParams.get("oauth")
    })

  const signIn = (authorizationUrl: string) => Effect.promise(() => oidc.browse(authorizationUrl, CALLBACK))

  return { oidc, dovecot, layer, redirects, start, deliver, signIn }
}

export const accountCount = Effect.gen(function* () {
  const sql = yield* OwnerDb
  const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM mail_accounts`.pipe(Effect.orDie)
  return rows[0]?.n ?? -1
})

export const accountOf = (user: string) =>
  Effect.gen(function* () {
    const store = yield* AccountStore
    const accounts = yield* store.list(Schema.decodeUnknownSync(UserId)(user)).pipe(Effect.orDie)
    assert.strictEqual(accounts.length, 1)
    const account = accounts[0]
    if (account === undefined) return yield* Effect.die(new Error("no account"))
    return account
  })

export const expireAccessToken = Effect.gen(function* () {
  const sql = yield* OwnerDb
  yield* sql`UPDATE oauth_grants SET access_expires_at = now() - interval '1 minute'`.pipe(Effect.orDie)
})
