/**
 * Issue 12, read-only folders: a rule whose action would change a folder the account may only
 * read (a public folder with ACL lookup + read on Dovecot) is refused with a reason in the run
 * log, the run ends (no retry loop), and the folder on the server is unchanged.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { ImapFlow } from "imapflow"
import { AccountsApi } from "../../src/contract/accounts/AccountsApi.ts"
import { AccountsHttpLive } from "../../src/accounts/AccountsHttp.ts"
import { ValidationErrors } from "../../src/contract/http/ValidationErrors.ts"
import { ValidationErrorsLive } from "../../src/http/ValidationErrors.ts"
import { JobsApi } from "../../src/contract/jobs/JobsApi.ts"
import { JobsHttpLive } from "../../src/jobs/JobsHttp.ts"
import { JobsLive, PlatformLive } from "../../src/main/layers.ts"
import { WorkerLive } from "../../src/main/workerLayers.ts"
import { RulesApi } from "../../src/contract/rules/RulesApi.ts"
import { RulesHttpLive } from "../../src/rules/RulesHttp.ts"
import { SyncLive } from "../../src/sync/SyncLive.ts"
import { Dovecot, publicMailbox } from "../harness/dovecot.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import { configLayer, makeTestEnv } from "../harness/TestEnv.ts"
import {
  api,
  baseUrl,
  createAccount,
  Env,
  expectSucceeded,
  field,
  ownerDbLayer,
  storedEmails,
  syncNow,
  terminal,
  waitForJob
} from "../sync/support.ts"

/** Accounts, jobs and rules over HTTP (test/sync's API has no rules group). */
class ReadOnlyTestApi extends HttpApi.make("mail-helper")
  .add(JobsApi)
  .add(AccountsApi)
  .add(RulesApi)
  .middleware(ValidationErrors)
  .annotate(HttpApi.ParseOptions, { errors: "all", onExcessProperty: "error" }) {}

const HttpLive = HttpApiBuilder.layer(ReadOnlyTestApi).pipe(
  Layer.provide([JobsHttpLive, AccountsHttpLive, RulesHttpLive]),
  Layer.provide([ValidationErrorsLive, TestAuthenticationLive])
)

const OWNER = "a1111111-1111-4111-8111-111111111111"
const READER = { user: "reader", pass: "Read-only-rules-pw1" }
const PUBLISHER = { user: "publisher", pass: "Read-only-rules-pw2" }
const FOLDER = "Public/Announcements"

const raw = (subject: string) =>
  [
    `Message-ID: <${subject}@readonly.test>`,
    "From: Publisher <publisher@readonly.test>",
    "To: all@readonly.test",
    `Subject: ${subject}`,
    "Date: Thu, 01 Jan 2026 12:00:00 +0000",
    "",
    `Body of ${subject}.`,
    ""
  ].join("\r\n")

const session = async <A>(port: number, user: { user: string; pass: string }, run: (c: ImapFlow) => Promise<A>) => {
  const client = new ImapFlow({
    host: "127.0.0.1",
    port,
    secure: false,
    auth: user,
    logger: false,
    disableAutoIdle: true
  })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.logout().catch(() => client.close())
  }
}

const serverState = (port: number) =>
  session(port, PUBLISHER, async (client) => {
    await client.mailboxOpen(FOLDER, { readOnly: true })
    const out: Array<string> = []
    for await (const message of client.fetch("1:*", { uid: true, flags: true })) {
      out.push(`${message.uid} [${[...(message.flags ?? [])].sort().join(" ")}]`)
    }
    return out
  })

const TestLayer = Layer.unwrap(
  Effect.map(makeTestEnv({}), (env) => {
    const http = HttpRouter.serve(HttpLive, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layerTest)
    )
    const dovecot = Dovecot.layer({ users: [READER, PUBLISHER], publicNamespace: true })
    return Layer.mergeAll(http, Layer.succeed(Env, env), ownerDbLayer(env), dovecot, WorkerLive).pipe(
      Layer.provideMerge(SyncLive),
      Layer.provideMerge(JobsLive),
      Layer.provideMerge(PlatformLive),
      Layer.provide(configLayer(env))
    )
  })
)

layer(TestLayer, { excludeTestServices: true, timeout: "120 seconds" })("rules on a read-only folder", (it) => {
  it.effect("move, flag, mark read and delete on a folder shared read-only are refused with a reason, once", () =>
    Effect.gen(function* () {
      const server = yield* Dovecot
      const base = yield* baseUrl
      const subjects = ["ro-move", "ro-flag", "ro-read", "ro-delete"]
      publicMailbox(server.root, "Announcements", [`user=${PUBLISHER.user} lrwstipekxa`, `user=${READER.user} lr`])
      yield* Effect.promise(() =>
        session(server.port, PUBLISHER, async (client) => {
          for (const subject of subjects) await client.append(FOLDER, raw(subject))
        })
      )
      yield* Effect.promise(() => server.createMailbox(READER.user, "Filed"))
      const before = yield* Effect.promise(() => serverState(server.port))
      const accountId = yield* createAccount(base, OWNER, server, { username: READER.user, password: READER.pass })
      expectSucceeded(yield* syncNow(base, OWNER, accountId))
      assert.lengthOf(yield* storedEmails(accountId, FOLDER), subjects.length, "the read-only folder is stored")

      const actions = [{ type: "moveTo", mailbox: "Filed" }, { type: "flag" }, { type: "markRead" }, { type: "delete" }]
      for (const [index, action] of actions.entries()) {
        const created = yield* api(base, OWNER, "POST", "/api/v1/rules", {
          name: `read-only ${index}`,
          priority: index + 1,
          conditions: [{ field: "subject", op: "equals", value: subjects[index] }],
          actions: [action]
        })
        assert.strictEqual(created.status, 201, created.text)
      }
      const ask = yield* api(base, OWNER, "POST", "/api/v1/rules/apply", { accountId, mailbox: FOLDER })
      assert.strictEqual(ask.status, 409, ask.text)
      const applied = yield* api(base, OWNER, "POST", "/api/v1/rules/apply", {
        accountId,
        mailbox: FOLDER,
        confirm: Number(field(ask.body, "count"))
      })
      assert.strictEqual(applied.status, 202, applied.text)
      const job = yield* waitForJob(
        base,
        OWNER,
        String(field(applied.body, "jobId")),
        (j) => terminal(field(j, "state")) || field(j, "state") === "retrying"
      )
      const log = yield* api(base, OWNER, "GET", "/api/v1/rules/log")
      const items = field(log.body, "items")
      const refusals = (Array.isArray(items) ? items : []).map((item) => ({
        subject: String(field(item, "email", "subject")),
        code: String(field(item, "error", "code")),
        message: String(field(item, "error", "message"))
      }))
      assert.sameMembers(
        refusals.map((r) => r.subject),
        subjects,
        log.text.slice(0, 2000)
      )
      for (const refusal of refusals) {
        assert.strictEqual(refusal.code, "imap_refused", JSON.stringify(refusal))
        assert.match(refusal.message, /was refused/, JSON.stringify(refusal))
        // and says why: the user can do nothing about a bare refusal
        assert.match(refusal.message, /is read-only for this account/, JSON.stringify(refusal))
      }
      const after = yield* Effect.promise(() => serverState(server.port))
      assert.deepStrictEqual(after, before, "the read-only folder changed on the server")
      assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
      assert.strictEqual(field(job, "attempts"), 1, "the run was retried")
      assert.strictEqual(Number(field(job, "result", "actionsFailed")), actions.length, JSON.stringify(job))
    })
  )
})
