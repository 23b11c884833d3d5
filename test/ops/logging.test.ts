import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import { dovecotScoped } from "../harness/dovecot.ts"
import { makeTestEnv } from "../harness/TestEnv.ts"
import { type ApiResponse, call, field } from "../harness/http.ts"
import { testAuthEnv } from "../users/helpers.ts"
import { type Program, startApi, startWorker } from "./programs.ts"

/**
 * The real api and worker programs (child processes, JSON logs at Debug level) handle a
 * session's worth of traffic; then every line they wrote is checked: JSON with level, time and
 * message; a request's log line carries that request's trace id; no secret and no message
 * body appears anywhere.
 */

const unique = (label: string) => `${label}-${randomBytes(9).toString("base64url")}`

const programScoped = <A extends { readonly program: Program }>(start: () => Promise<A>) =>
  Effect.acquireRelease(Effect.promise(start), ({ program }) => Effect.promise(() => program.stop("SIGTERM")))

const waitFor = <A>(what: string, attempt: Effect.Effect<A | undefined>) =>
  attempt.pipe(
    Effect.flatMap((value) => (value === undefined ? Effect.fail(what) : Effect.succeed(value))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
    Effect.orDie
  )

const sessionCookie = (response: ApiResponse): string => {
  const set = response.headers.getSetCookie().find((cookie) => cookie.startsWith("mh_session="))
  assert.isDefined(set, "login set no session cookie")
  return (set ?? "").split(";")[0] ?? ""
}

describe("logs", () => {
  it.live(
    "are JSON lines with the request's trace id, and never contain passwords, session ids, tokens or mail",
    () =>
      Effect.gen(function* () {
        const secretKey = randomBytes(32).toString("base64")
        const env = yield* makeTestEnv({ ...testAuthEnv, SECRET_KEYS: `1:${secretKey}`, LOG_LEVEL: "Debug" })
        const password = unique("user-password")
        const wrongPassword = unique("wrong-password")
        const shortPassword = `Sh0rt${randomBytes(2).toString("hex")}`
        const imapUser = "logcheck"
        const imapPassword = unique("imap-password")
        const wrongImapPassword = unique("wrong-imap-password")
        const bodyMarker = unique("confidential-body")
        const subjectMarker = unique("confidential-subject")
        const dovecot = yield* dovecotScoped({ users: [{ user: imapUser, pass: imapPassword }] })
        yield* Effect.promise(() =>
          dovecot.seedMaildir(imapUser, "INBOX", [
            {
              raw: [
                "From: Alice <alice@example.com>",
                `To: ${imapUser}@example.test`,
                `Subject: ${subjectMarker}`,
                "Message-ID: <log-check-1@example.test>",
                "Date: Mon, 02 Nov 2026 10:00:00 +0000",
                "Content-Type: text/plain; charset=utf-8",
                "",
                `The launch code is ${bodyMarker}.`,
                ""
              ].join("\r\n")
            }
          ])
        )

        const { program: api, base } = yield* programScoped(() => startApi({ ...env.env, LOG_LEVEL: "Debug" }))
        const { program: worker } = yield* programScoped(() => startWorker({ ...env.env, LOG_LEVEL: "Debug" }))
        const origin = testAuthEnv["PUBLIC_ORIGIN"] ?? ""

        // a session's worth of traffic, carrying every kind of secret
        const email = `log.${Date.now().toString(36)}@example.org`
        const registered = yield* call(base, "POST", "/api/v1/auth/register", { json: { email, password } })
        assert.strictEqual(registered.status, 201, registered.text)
        const refused = yield* call(base, "POST", "/api/v1/auth/register", {
          json: { email: `short.${email}`, password: shortPassword }
        })
        assert.strictEqual(refused.status, 400, refused.text)
        const failed = yield* call(base, "POST", "/api/v1/auth/login", { json: { email, password: wrongPassword } })
        assert.strictEqual(failed.status, 401, failed.text)
        const signedIn = yield* call(base, "POST", "/api/v1/auth/login", { json: { email, password } })
        assert.strictEqual(signedIn.status, 200, signedIn.text)
        const cookie = sessionCookie(signedIn)
        const sessionId = cookie.slice("mh_session=".length)
        const headers = { cookie, origin }
        const created = yield* call(base, "POST", "/api/v1/auth/tokens", { json: { name: "logs" }, headers })
        assert.strictEqual(created.status, 201, created.text)
        const token = String(field(created.body, "token"))
        const bearer = { authorization: `Bearer ${token}` }
        const invite = yield* call(base, "POST", "/api/v1/admin/invites", { json: {}, headers: bearer })
        assert.strictEqual(invite.status, 201, invite.text)
        const inviteCode = String(field(invite.body, "code"))

        const account = {
          label: "log check",
          host: dovecot.host,
          port: dovecot.port,
          security: "none",
          username: imapUser,
          syncIntervalMinutes: null
        }
        const badAccount = yield* call(base, "POST", "/api/v1/accounts", {
          json: { ...account, password: wrongImapPassword },
          headers: bearer
        })
        assert.isAtLeast(badAccount.status, 400, badAccount.text)
        const goodAccount = yield* call(base, "POST", "/api/v1/accounts", {
          json: { ...account, password: imapPassword },
          headers: bearer
        })
        assert.strictEqual(goodAccount.status, 201, goodAccount.text)
        const sync = yield* call(base, "POST", `/api/v1/accounts/${String(field(goodAccount.body, "id"))}/sync`, {
          headers: bearer
        })
        assert.strictEqual(sync.status, 202, sync.text)
        const syncJob = yield* waitFor(
          "sync job to end",
          Effect.map(
            call(base, "GET", `/api/v1/jobs/${String(field(sync.body, "jobId"))}`, { headers: bearer }),
            (r) => (["succeeded", "failed"].includes(String(field(r.body, "state"))) ? r.body : undefined)
          )
        )
        assert.strictEqual(field(syncJob, "state"), "succeeded", JSON.stringify(syncJob))
        // the message went through the worker (so the checks below saw it pass by)
        const emails = yield* call(base, "GET", "/api/v1/emails", { headers: bearer })
        assert.strictEqual(emails.status, 200, emails.text)
        assert.include(emails.text, subjectMarker)

        // trace ids: one chosen by the caller (W3C traceparent), one made by the server
        const callerTrace = randomBytes(16).toString("hex")
        const me = yield* call(base, "GET", "/api/v1/auth/me", {
          headers: { ...bearer, traceparent: `00-${callerTrace}-${randomBytes(8).toString("hex")}-01` }
        })
        assert.strictEqual(me.status, 200, me.text)
        const ping = yield* call(base, "POST", "/api/v1/debug/ping", { json: {}, headers: bearer })
        assert.strictEqual(ping.status, 202, ping.text)
        const pingJob = yield* waitFor(
          "ping job to succeed",
          Effect.map(
            call(base, "GET", `/api/v1/jobs/${String(field(ping.body, "jobId"))}`, { headers: bearer }),
            (r) => (field(r.body, "state") === "succeeded" ? r.body : undefined)
          )
        )
        const serverTrace = String(field(pingJob, "traceId"))
        assert.match(serverTrace, /^[0-9a-f]{32}$/)

        // a job that fails: the worker's line names the job, its owner and the request's trace
        const failing = yield* call(base, "POST", "/api/v1/debug/ping", {
          json: { failPermanently: true },
          headers: bearer
        })
        assert.strictEqual(failing.status, 202, failing.text)
        const failingId = String(field(failing.body, "jobId"))
        const failedJob = yield* waitFor(
          "the failing job to fail",
          Effect.map(call(base, "GET", `/api/v1/jobs/${failingId}`, { headers: bearer }), (r) =>
            field(r.body, "state") === "failed" ? r.body : undefined
          )
        )
        const userId = String(field(registered.body, "id"))
        const failureLine = yield* waitFor(
          "the worker's log line of the failed job",
          Effect.sync(() =>
            worker
              .logLines()
              .find(
                (line) => line["message"]?.toString().startsWith("job attempt failed") && line["jobId"] === failingId
              )
          )
        )
        assert.strictEqual(failureLine["level"], "warn")
        assert.strictEqual(failureLine["userId"], userId)
        assert.strictEqual(failureLine["traceId"], field(failedJob, "traceId"))
        assert.include(String(failureLine["message"]), "requested_failure")

        const requestLine = (url: string, traceId: string) =>
          api.logLines().find((line) => line["http.url"] === url && line["traceId"] === traceId)
        const meLine = yield* waitFor(
          "the log line of GET /auth/me",
          Effect.sync(() => requestLine("/api/v1/auth/me", callerTrace))
        )
        assert.strictEqual(meLine["http.status"], 200)
        assert.match(String(meLine["spanId"]), /^[0-9a-f]{16}$/)
        const pingLine = yield* waitFor(
          "the log line of POST /debug/ping",
          Effect.sync(() => requestLine("/api/v1/debug/ping", serverTrace))
        )
        assert.strictEqual(pingLine["http.status"], 202)
        // each request has its own trace
        const traces = api.logLines().flatMap((line) => (line["http.url"] === undefined ? [] : [line["traceId"]]))
        assert.isAbove(new Set(traces).size, 8)

        yield* Effect.promise(() => api.stop("SIGTERM"))
        yield* Effect.promise(() => worker.stop("SIGTERM"))
        for (const program of [api, worker]) {
          const output = program.output()
          const lines = output.split("\n").filter((line) => line.trim() !== "")
          assert.isAbove(lines.length, 3, `${program.name} wrote almost nothing:\n${output}`)
          for (const line of lines) {
            const parsed: unknown = JSON.parse(line)
            assert.isString(field(parsed, "time"), line)
            assert.include(["trace", "debug", "info", "warn", "error", "fatal"], field(parsed, "level"), line)
            assert.isString(field(parsed, "message"), line)
          }
          const secrets = {
            password,
            wrongPassword,
            shortPassword,
            sessionId,
            token,
            inviteCode,
            imapPassword,
            wrongImapPassword,
            secretKey,
            bodyMarker,
            subjectMarker
          }
          for (const [what, secret] of Object.entries(secrets)) {
            assert.isAbove(secret.length, 8)
            assert.notInclude(output, secret, `${program.name} logged the ${what}`)
          }
        }
      }).pipe(Effect.scoped),
    { timeout: 120_000 }
  )
})
