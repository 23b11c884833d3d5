/**
 * Rule actions in the compatibility matrix (issue 12): on each server, one plain folder gets its
 * messages acted on through the product's real path (rules created through the API, the sync,
 * `POST /api/v1/rules/apply` with the confirmed count, the `rules.apply` job, `POST
 * /rules/runs/:id/undo`), and the outcome is compared with what a second, independent imapflow
 * session sees: the message where it should be, gone from where it was, its flags.
 *
 * Cells per server:
 * - move to a folder, flag (\Flagged), mark read (\Seen), delete to Trash: one rule each, one run;
 * - copy: a copyTo rule, run twice: the original stays, the destination holds exactly one copy
 *   (found by Message-ID the second time); the undo removes the copy and leaves the original;
 * - undo: the run undone, every message back where it was with its flags;
 * - other \Deleted message: a folder that also holds a message another client marked \Deleted; a
 *   move must not expunge it. Without MOVE and UIDPLUS (Dovecot minimal) the move is refused with
 *   `unsafe_expunge` and both messages stay; elsewhere the message moves and the other stays.
 *
 * The outcomes go to .tmp/compat-matrix/rule-actions/<server>.json for scripts/compat-doc.ts.
 */
import { assert } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { ImapFlow } from "imapflow"
import * as fs from "node:fs"
import * as path from "node:path"
import { AccountsApi } from "../../src/contract/accounts/AccountsApi.ts"
import { AccountsHttpLive } from "../../src/accounts/AccountsHttp.ts"
import { ValidationErrors } from "../../src/contract/http/ValidationErrors.ts"
import { ValidationErrorsLive } from "../../src/http/ValidationErrors.ts"
import { JobsApi } from "../../src/contract/jobs/JobsApi.ts"
import { JobsHttpLive } from "../../src/jobs/JobsHttp.ts"
import { RulesApi } from "../../src/contract/rules/RulesApi.ts"
import { RulesHttpLive } from "../../src/rules/RulesHttp.ts"
import { TestAuthenticationLive } from "../harness/TestAuthentication.ts"
import type { TestImapUser } from "../harness/imapServers.ts"
import { api, field, terminal, waitForJob } from "../sync/support.ts"

/** The API groups the matrix uses: accounts and jobs (the sync) and rules. */
class CompatTestApi extends HttpApi.make("mail-helper")
  .add(JobsApi)
  .add(AccountsApi)
  .add(RulesApi)
  .middleware(ValidationErrors)
  .annotate(HttpApi.ParseOptions, { errors: "all", onExcessProperty: "error" }) {}

export const CompatHttpLive = HttpApiBuilder.layer(CompatTestApi).pipe(
  Layer.provide([JobsHttpLive, AccountsHttpLive, RulesHttpLive]),
  Layer.provide([ValidationErrorsLive, TestAuthenticationLive])
)

export type RuleActionId = "move" | "copy" | "flag" | "markRead" | "delete" | "undo" | "otherDeleted" | "noMessageId"
export type RuleActionStatus = "pass" | "fail" | "not-applicable"

export interface RuleActionCell {
  readonly action: RuleActionId
  readonly status: RuleActionStatus
  /** How the product did it on this server (MOVE, COPY + UID EXPUNGE, ..., refused). */
  readonly strategy: string
  readonly detail: string
}

export interface RuleActionsFile {
  readonly server: string
  readonly label: string
  readonly cells: ReadonlyArray<RuleActionCell>
}

export const ruleActions: ReadonlyArray<{ readonly id: RuleActionId; readonly label: string }> = [
  { id: "move", label: "move to a folder" },
  { id: "copy", label: "copy" },
  { id: "flag", label: "flag (\\Flagged)" },
  { id: "markRead", label: "mark read" },
  { id: "delete", label: "delete to Trash" },
  { id: "undo", label: "undo of the run" },
  { id: "otherDeleted", label: "move beside another \\Deleted message" },
  { id: "noMessageId", label: "move of a message without Message-ID" }
]

const owner = "a1111111-1111-4111-8111-111111111111"

/** The IMAP user of a server's rule-action account (one per server, next to the shapes' users). */
export const ruleActionsUser = (serverId: string): TestImapUser => ({
  user: `${serverId.replaceAll("-", "")}rules`,
  pass: "Compat-rules-pw1"
})

interface Seen {
  readonly mailbox: string
  readonly uid: number
  readonly flags: ReadonlyArray<string>
  readonly messageId: string
  readonly subject: string
}

interface Server {
  readonly host: string
  readonly port: number
}

const withClient = async <A>(server: Server, user: TestImapUser, run: (client: ImapFlow) => Promise<A>) => {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user: user.user, pass: user.pass },
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

/** Every message of these folders as the second session sees it. */
const view = (server: Server, user: TestImapUser, folders: ReadonlyArray<string>) =>
  Effect.promise(() =>
    withClient(server, user, async (client) => {
      const seen: Array<Seen> = []
      for (const mailbox of folders) {
        const opened = await client.mailboxOpen(mailbox, { readOnly: true })
        if (opened.exists === 0) continue
        for await (const message of client.fetch("1:*", { uid: true, flags: true, envelope: true })) {
          seen.push({
            mailbox,
            uid: message.uid,
            flags: [...(message.flags ?? [])].filter((flag) => flag !== "\\Recent").sort(),
            messageId: message.envelope?.messageId ?? "",
            subject: message.envelope?.subject ?? ""
          })
        }
      }
      return seen
    })
  )

const message = (subject: string, messageId: string | null) =>
  [
    ...(messageId === null ? [] : [`Message-ID: ${messageId}`]),
    "Date: Sat, 01 Mar 2025 08:00:00 +0000",
    "From: Compat <compat@example.com>",
    "To: me@example.org",
    `Subject: ${subject}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    `Rule action ${subject}.`,
    ""
  ].join("\r\n")

const idOf = (name: string) => `<rules-${name}@compat.example>`

const waitOk = (base: string, response: { status: number; text: string; body: unknown }, expected = 202) =>
  Effect.gen(function* () {
    assert.strictEqual(response.status, expected, response.text)
    const job = yield* waitForJob(base, owner, String(field(response.body, "jobId")), (j) =>
      terminal(field(j, "state"))
    )
    assert.strictEqual(field(job, "state"), "succeeded", JSON.stringify(job))
    return job
  })

/** POST /rules/apply for one mailbox: first without `confirm` (409 with the count), then confirmed. */
const applyConfirmed = (base: string, accountId: string, mailbox: string) =>
  Effect.gen(function* () {
    const ask = yield* api(base, owner, "POST", "/api/v1/rules/apply", { accountId, mailbox })
    assert.strictEqual(ask.status, 409, ask.text)
    const count = Number(field(ask.body, "count"))
    const applied = yield* api(base, owner, "POST", "/api/v1/rules/apply", { accountId, mailbox, confirm: count })
    const job = yield* waitOk(base, applied)
    return { count, job, jobId: String(field(applied.body, "jobId")) }
  })

/** Every mail.analyze job of the owner has ended (bounded: 60 s). */
const analysisSettled = (base: string) =>
  api(base, owner, "GET", "/api/v1/jobs?kind=mail.analyze&limit=100").pipe(
    Effect.flatMap((response) => {
      const items = field(response.body, "items")
      const open = Array.isArray(items) ? items.filter((job) => !terminal(field(job, "state"))).length : -1
      return open === 0
        ? Effect.void
        : Effect.fail(`mail.analyze jobs still open: ${open} (${response.text.slice(0, 300)})`)
    }),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 600 }))),
    Effect.orDie
  )

const matrixDir = path.join(import.meta.dirname, "..", "..", ".tmp", "compat-matrix", "rule-actions")

/**
 * The rule-action cells of one server (run as one test in the server's compat file, on the server
 * and API of its layer). Fails the test on any unexpected outcome; writes the cells either way.
 */
export const ruleActionsCheck = (
  target: { readonly id: string; readonly label: string },
  server: Server,
  base: string
) =>
  Effect.gen(function* () {
    const user = ruleActionsUser(target.id)
    const cells: Array<RuleActionCell> = []
    const problems: Array<string> = []
    const cell = (action: RuleActionId, strategy: string, failures: ReadonlyArray<string>, passDetail: string) => {
      cells.push({
        action,
        status: failures.length === 0 ? "pass" : "fail",
        strategy,
        detail: failures.length === 0 ? passDetail : failures.join("; ")
      })
      problems.push(...failures.map((failure) => `${action}: ${failure}`))
    }
    const write = () => {
      fs.mkdirSync(matrixDir, { recursive: true })
      const file: RuleActionsFile = { server: target.id, label: target.label, cells }
      fs.writeFileSync(path.join(matrixDir, `${target.id}.json`), `${JSON.stringify(file, null, 2)}\n`)
    }

    // 1. folders and messages, through the independent session
    const seeded = yield* Effect.promise(() =>
      withClient(server, user, async (client) => {
        const prefix = client.namespace?.prefix ?? ""
        const folders = {
          rules: `${prefix}Rules`,
          filed: `${prefix}Filed`,
          copies: `${prefix}Copies`,
          trash: `${prefix}Trash`,
          refusal: `${prefix}Refusal`,
          noId: `${prefix}NoId`
        }
        const listed = new Set((await client.list()).map((entry) => entry.path))
        for (const folder of Object.values(folders)) if (!listed.has(folder)) await client.mailboxCreate(folder)
        for (const name of ["move", "copy", "flag", "read", "delete"]) {
          await client.append(folders.rules, message(`act-${name}`, idOf(name)), [])
        }
        await client.append(folders.refusal, message("act-refuse", idOf("refuse")), [])
        await client.append(folders.refusal, message("other", idOf("other")), ["\\Deleted"])
        await client.append(folders.noId, message("act-noid", null), [])
        const capabilities = [...client.capabilities.keys()]
        return { folders, capabilities }
      })
    )
    const { folders } = seeded
    const has = (name: string) => seeded.capabilities.includes(name)
    const moveStrategy = has("MOVE")
      ? "MOVE"
      : has("UIDPLUS")
        ? "COPY + UID EXPUNGE fallback"
        : "COPY + EXPUNGE fallback, after UID SEARCH DELETED"
    const copyStrategy = has("UIDPLUS")
      ? "UID COPY (COPYUID); skipped when the Message-ID is already there"
      : "UID COPY, the copy found by Message-ID; skipped when the Message-ID is already there"
    const all = [folders.rules, folders.filed, folders.copies, folders.trash, folders.refusal, folders.noId]
    const before = yield* view(server, user, all)

    // 2. the account, its first sync, the rules
    const created = yield* api(base, owner, "POST", "/api/v1/accounts", {
      label: `${target.id} rule actions`,
      host: server.host,
      port: server.port,
      security: "none",
      username: user.user,
      password: user.pass,
      syncIntervalMinutes: null
    })
    assert.strictEqual(created.status, 201, created.text)
    const accountId = String(field(created.body, "id"))
    yield* waitOk(base, yield* api(base, owner, "POST", `/api/v1/accounts/${accountId}/sync`))
    // the sync's analysis jobs submit a new-mail rules run when rules exist by then: let them end first,
    // so only the confirmed run below acts (a new-mail run racing it would take some of its messages)
    yield* analysisSettled(base)
    const rules = [
      { name: "move", subject: "act-move", action: { type: "moveTo", mailbox: folders.filed } },
      { name: "copy", subject: "act-copy", action: { type: "copyTo", mailbox: folders.copies } },
      { name: "flag", subject: "act-flag", action: { type: "flag" } },
      { name: "read", subject: "act-read", action: { type: "markRead" } },
      { name: "delete", subject: "act-delete", action: { type: "delete" } },
      { name: "refuse", subject: "act-refuse", action: { type: "moveTo", mailbox: folders.filed } },
      { name: "noid", subject: "act-noid", action: { type: "moveTo", mailbox: folders.filed } }
    ]
    for (const [index, rule] of rules.entries()) {
      const response = yield* api(base, owner, "POST", "/api/v1/rules", {
        name: `${target.id} ${rule.name}`,
        priority: index + 1,
        conditions: [{ field: "subject", op: "equals", value: rule.subject }],
        actions: [rule.action]
      })
      assert.strictEqual(response.status, 201, response.text)
    }

    // 3. one run over the plain folder
    const run = yield* applyConfirmed(base, accountId, folders.rules)
    const after = yield* view(server, user, all)
    const where = (seen: ReadonlyArray<Seen>, name: string) => seen.filter((m) => m.messageId === idOf(name))
    const expectAt = (seen: ReadonlyArray<Seen>, name: string, mailbox: string, flags: ReadonlyArray<string>) => {
      const copies = where(seen, name)
      const places = JSON.stringify(copies.map((m) => `${m.mailbox} [${m.flags.join(" ")}]`))
      if (copies.length !== 1) return [`${name}: expected once in ${mailbox}, the server has ${places}`]
      const [only] = copies
      if (only?.mailbox !== mailbox) return [`${name}: expected in ${mailbox}, the server has ${places}`]
      const want = [...flags].sort().join(" ")
      return only.flags.join(" ") === want ? [] : [`${name}: flags [${only.flags.join(" ")}], expected [${want}]`]
    }
    const summary = field(run.job, "result")
    const failed = Number(field(summary, "actionsFailed"))
    const runLog = failed === 0 ? null : yield* api(base, owner, "GET", "/api/v1/rules/log")
    const runFailures =
      runLog === null
        ? []
        : [`the run reported ${failed} failed actions: ${JSON.stringify(summary)}; log: ${runLog.text.slice(0, 1500)}`]
    cell(
      "move",
      moveStrategy,
      [...expectAt(after, "move", folders.filed, []), ...runFailures],
      `in ${folders.filed}, gone from ${folders.rules}`
    )
    // the copy rule once more: the destination already holds the Message-ID, no second copy
    const again = yield* applyConfirmed(base, accountId, folders.rules)
    const afterAgain = yield* view(server, user, all)
    const placesOf = (seen: ReadonlyArray<Seen>, name: string) =>
      where(seen, name)
        .map((m) => `${m.mailbox} [${m.flags.join(" ")}]`)
        .sort()
    const copyWanted = [`${folders.copies} []`, `${folders.rules} []`].sort()
    const copyFailures = [
      ...(JSON.stringify(placesOf(after, "copy")) === JSON.stringify(copyWanted)
        ? []
        : [
            `after the run: expected ${JSON.stringify(copyWanted)}, the server has ${JSON.stringify(placesOf(after, "copy"))}`
          ]),
      ...(JSON.stringify(placesOf(afterAgain, "copy")) === JSON.stringify(copyWanted)
        ? []
        : [
            `after running the rule again: expected ${JSON.stringify(copyWanted)}, the server has ${JSON.stringify(placesOf(afterAgain, "copy"))}`
          ]),
      ...(Number(field(again.job, "result", "actionsFailed")) === 0
        ? []
        : [`the second run reported failures: ${JSON.stringify(field(again.job, "result"))}`])
    ]
    cell("flag", "UID STORE +FLAGS", expectAt(after, "flag", folders.rules, ["\\Flagged"]), "\\Flagged set")
    cell("markRead", "UID STORE +FLAGS", expectAt(after, "read", folders.rules, ["\\Seen"]), "\\Seen set")
    cell(
      "delete",
      moveStrategy,
      expectAt(after, "delete", folders.trash, []),
      `in ${folders.trash}, gone from ${folders.rules}`
    )

    // 4. undo: everything back where it was, with its flags
    const runs = yield* api(base, owner, "GET", "/api/v1/rules/runs")
    const runId = String(field(runs.body, "items", 0, "id"))
    yield* waitOk(base, yield* api(base, owner, "POST", `/api/v1/rules/runs/${runId}/undo`))
    const undone = yield* view(server, user, all)
    const undoFailures = ["move", "copy", "flag", "read", "delete"].flatMap((name) =>
      expectAt(undone, name, folders.rules, [])
    )
    cell(
      "copy",
      copyStrategy,
      [...copyFailures, ...expectAt(undone, "copy", folders.rules, []).map((f) => `undo: ${f}`)],
      `one copy in ${folders.copies} after two runs, the original stays in ${folders.rules}; the undo removes only the copy`
    )
    cell(
      "undo",
      `${moveStrategy} back; UID STORE -FLAGS`,
      undoFailures,
      `every message back in ${folders.rules} with its flags`
    )

    // 5. a folder that also holds another client's \Deleted message
    const refusal = yield* applyConfirmed(base, accountId, folders.refusal)
    const refusalView = yield* view(server, user, all)
    const log = yield* api(base, owner, "GET", "/api/v1/rules/log")
    const other = expectAt(refusalView, "other", folders.refusal, ["\\Deleted"])
    if (!has("MOVE") && !has("UIDPLUS")) {
      const refused = JSON.stringify(field(refusal.job, "result"))
      cell(
        "otherDeleted",
        "refused: unsafe_expunge",
        [
          ...other,
          ...expectAt(refusalView, "refuse", folders.refusal, []),
          ...(Number(field(refusal.job, "result", "actionsFailed")) === 1
            ? []
            : [`the run did not report the refusal: ${refused}`]),
          ...(log.text.includes("unsafe_expunge") && log.text.includes("1 other message marked deleted")
            ? []
            : [`the rule log does not carry the reason: ${log.text.slice(0, 600)}`])
        ],
        "refused with unsafe_expunge (the folder holds 1 other message marked deleted); both messages untouched"
      )
    } else {
      cell(
        "otherDeleted",
        moveStrategy,
        [...other, ...expectAt(refusalView, "refuse", folders.filed, [])],
        `moved; the other \\Deleted message stays in ${folders.refusal}`
      )
    }

    // 6. a message without Message-ID: without UIDPLUS its new UID cannot be learnt (no COPYUID)
    const noId = yield* applyConfirmed(base, accountId, folders.noId)
    const noIdView = yield* view(server, user, all)
    const landed = noIdView.filter((m) => m.subject === "act-noid").map((m) => m.mailbox)
    const noIdFailed = Number(field(noId.job, "result", "actionsFailed"))
    const noIdLog = yield* api(base, owner, "GET", "/api/v1/rules/log")
    const placed =
      landed.length === 1 && landed[0] === folders.filed ? [] : [`act-noid is in ${JSON.stringify(landed)}`]
    if (!has("UIDPLUS")) {
      cell(
        "noMessageId",
        "moved; new UID unknown: destination_uid_unknown",
        [
          ...placed,
          ...(noIdFailed === 1 && noIdLog.text.includes("destination_uid_unknown")
            ? []
            : [`the run did not report destination_uid_unknown: ${noIdLog.text.slice(0, 600)}`])
        ],
        `moved to ${folders.filed}; the run reports destination_uid_unknown (no journal row, no undo)`
      )
    } else {
      cell(
        "noMessageId",
        moveStrategy,
        [...placed, ...(noIdFailed === 0 ? [] : [`the run reported ${noIdFailed} failed actions`])],
        `moved to ${folders.filed} (COPYUID)`
      )
    }
    write()
    assert.deepStrictEqual(
      problems,
      [],
      `${target.id}: rule actions differ from the server (before: ${JSON.stringify(before)})`
    )
  })
