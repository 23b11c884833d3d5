/**
 * OAuth2 accounts against a real OpenID provider (oidc-provider, in this process) and a real
 * Dovecot whose `oauth2` passdb checks every token at the provider's introspection endpoint.
 *
 * connect -> sync -> the access token expires -> 16 concurrent token requests from two service
 * instances (two workers) refresh once -> the rotated refresh token works -> the grant is revoked
 * -> reauth_required, and nothing calls the provider again -> reconnect. Refused: forged and
 * replayed states, another user's and another session's callback, a code issued to another
 * client, a wrong PKCE verifier. No token in logs, answers, redirects, job payloads or spans.
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, layer } from "@effect/vitest"
import { Effect, Redacted, Schema } from "effect"
import { AccountId } from "../../src/contract/accounts/Account.ts"
import { hashState } from "../../src/accounts/OAuthConnect.ts"
import { OAuthTokens } from "../../src/accounts/OAuthTokens.ts"
import { Crypto } from "../../src/platform/Crypto.ts"
import { Dovecot } from "../harness/dovecot.ts"
import { api, baseUrl, capturedLogs, expectSucceeded, field, OwnerDb, seenResponses, syncNow } from "../sync/support.ts"
import { accountCount, accountOf, expireAccessToken, MAILBOX, oauthWorld, PROVIDER } from "./oauthSupport.ts"

const alice = "a7777777-7777-4777-8777-777777777777"
const bob = "b7777777-7777-4777-8777-777777777777"

const spans = new InMemorySpanExporter()
const {
  oidc,
  layer: TestLayer,
  redirects,
  start,
  deliver,
  signIn
} = await oauthWorld({
  spanProcessor: new SimpleSpanProcessor(spans),
  // sessions are kept between jobs (the default IMAP_SESSION_IDLE_MS): a kept session is reused only
  // while the token store hands out the token it logged in with, so each step still meets the token
  // it is about (expired: refreshed, rotated, revoked)
  env: { IMAP_SESSION_IDLE_MS: "600000" }
})

layer(TestLayer, { excludeTestServices: true, timeout: "180 seconds" })("OAuth2 accounts", (it) => {
  it.effect("refuses forged, replayed, foreign-user, foreign-session, other-client and wrong-verifier callbacks", () =>
    Effect.gen(function* () {
      oidc.nextLogin.sub = MAILBOX
      // a forged state
      const url = yield* start(alice)
      const redirect = yield* signIn(url)
      const forged = new URL(redirect)
      forged.searchParams.set("state", "forged-state-value")
      assert.strictEqual(yield* deliver(alice, forged), "invalid_state")

      // another user's callback: bob cannot use alice's state (and it stays alice's)
      assert.strictEqual(yield* deliver(bob, redirect), "invalid_state")
      // another session of the same user: refused, and the state is spent
      assert.strictEqual(yield* deliver(alice, redirect, "two"), "invalid_state")
      assert.strictEqual(yield* deliver(alice, redirect), "invalid_state")

      // a code issued to another client, with our state and PKCE challenge
      const foreign = new URL(yield* start(alice))
      foreign.searchParams.set("client_id", oidc.otherApp.clientId)
      assert.strictEqual(yield* deliver(alice, yield* signIn(foreign.href)), "exchange_failed")

      // a PKCE verifier that does not match the challenge the provider saw
      const pkce = yield* start(alice)
      const pkceRedirect = yield* signIn(pkce)
      const state = pkceRedirect.searchParams.get("state") ?? ""
      const crypto = yield* Crypto
      const wrong = yield* crypto.encrypt(
        Redacted.make("a-wrong-verifier-of-enough-length-0123456789abcdefghijk"),
        `oauth_states:${hashState(state)}:verifier`
      )
      const sql = yield* OwnerDb
      yield* sql`UPDATE oauth_states SET verifier_sealed = ${wrong} WHERE state_hash = ${hashState(state)}`.pipe(
        Effect.orDie
      )
      assert.strictEqual(yield* deliver(alice, pkceRedirect), "exchange_failed")

      assert.strictEqual(yield* accountCount, 0, "no refused callback created an account")
    })
  )

  it.effect("connects, syncs, refreshes once for many workers, rotates, goes reauth_required, reconnects", () =>
    Effect.gen(function* () {
      const base = yield* baseUrl
      oidc.nextLogin.sub = MAILBOX
      const server = yield* Dovecot
      yield* Effect.promise(() =>
        server.seedMaildir(MAILBOX, "INBOX", [
          { raw: "From: a@example.org\r\nSubject: hello oauth\r\nMessage-ID: <o1@x>\r\n\r\nbody\r\n" }
        ])
      )

      // connect (the provider's IMAP preset points at this test's Dovecot)
      const outcome = yield* deliver(alice, yield* signIn(yield* start(alice)))
      assert.strictEqual(outcome, "connected")
      let account = yield* accountOf(alice)
      assert.strictEqual(account.authKind, "oauth")
      assert.strictEqual(account.username, MAILBOX)
      assert.isNull(account.passwordSealed)
      const listed = yield* api(base, alice, "GET", "/api/v1/accounts")
      assert.strictEqual(field(listed.body, "items", 0, "oauthProvider"), PROVIDER)

      // sync with the access token (XOAUTH2/OAUTHBEARER, introspected by Dovecot)
      expectSucceeded(yield* syncNow(base, alice, account.id))
      const sql = yield* OwnerDb
      const stored = yield* sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM emails WHERE account_id = ${account.id}`.pipe(Effect.orDie)
      assert.strictEqual(stored[0]?.n, 1)
      assert.strictEqual(oidc.grants.refresh_token, 0)

      // the access token expires: 16 concurrent requests on two service instances refresh once
      yield* expireAccessToken
      const before = oidc.grants.refresh_token
      const current = account
      const worker = Effect.gen(function* () {
        const tokens = yield* OAuthTokens
        return yield* Effect.forEach(Array.from({ length: 8 }), () => tokens.accessToken(current), {
          concurrency: "unbounded"
        })
      })
      const [first, second] = yield* Effect.all(
        [Effect.provide(worker, OAuthTokens.layer), Effect.provide(worker, OAuthTokens.layer)],
        { concurrency: "unbounded" }
      )
      assert.strictEqual(oidc.grants.refresh_token - before, 1, "exactly one refresh at the provider")
      const handedOut = new Set([...first, ...second].map((token) => Redacted.value(token)))
      assert.strictEqual(handedOut.size, 1, "every caller got the same new access token")

      // the rotated refresh token was stored: the next refresh works (reusing the old one would revoke the grant)
      yield* expireAccessToken
      expectSucceeded(yield* syncNow(base, alice, account.id))
      assert.strictEqual(oidc.grants.refresh_token - before, 2)

      // the user revokes the app at the provider
      yield* Effect.promise(() => oidc.revokeAll())
      yield* expireAccessToken
      const failed = yield* syncNow(base, alice, account.id)
      assert.strictEqual(field(failed, "state"), "failed", JSON.stringify(failed))
      account = yield* accountOf(alice)
      assert.strictEqual(account.status, "reauth_required")
      assert.match(account.statusMessage ?? "", /connect the account again/)
      const refreshesAfterRevoke = oidc.grants.refresh_token
      // no loop: a manual sync is refused without a job, a token request calls nobody
      const manual = yield* api(base, alice, "POST", `/api/v1/accounts/${account.id}/sync`)
      assert.strictEqual(manual.status, 409, manual.text)
      const tokens = yield* OAuthTokens
      const refused = yield* Effect.result(tokens.accessToken(account))
      assert.isTrue(refused._tag === "Failure")
      assert.strictEqual(oidc.grants.refresh_token, refreshesAfterRevoke, "no provider call after reauth_required")

      // reconnect: the same account comes back
      const again = yield* deliver(alice, yield* signIn(yield* start(alice)))
      assert.strictEqual(again, "reconnected")
      account = yield* accountOf(alice)
      assert.strictEqual(account.status, "active")
      assert.strictEqual(account.id, Schema.decodeUnknownSync(AccountId)(account.id))
      expectSucceeded(yield* syncNow(base, alice, account.id))

      // no token anywhere: logs, answers, redirects, job payloads and results, spans
      const jobs = yield* sql<{ t: string }>`SELECT payload::text || coalesce(result::text, '') AS t FROM jobs`.pipe(
        Effect.orDie
      )
      const spanText = JSON.stringify(
        spans.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events }))
      )
      const haystacks = {
        logs: capturedLogs.join("\n"),
        answers: seenResponses.join("\n"),
        redirects: redirects.join("\n"),
        jobs: jobs.map((row) => row.t).join("\n"),
        spans: spanText
      }
      assert.isAbove(oidc.issuedTokens.length, 6)
      assert.isAbove(spans.getFinishedSpans().length, 10)
      for (const token of oidc.issuedTokens) {
        for (const [where, text] of Object.entries(haystacks)) {
          assert.isFalse(text.includes(token), `a token appeared in ${where}`)
        }
      }
    })
  )
})
