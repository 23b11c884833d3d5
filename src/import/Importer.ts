/**
 * The import itself: our user, the old user's rows, the master password -> the data key (in
 * memory), the mapping, and every write in ONE transaction in the user's row-level-security scope
 * (UserScope.run). A failure before or during the writes leaves nothing behind; a dry run takes the
 * same path and writes nothing. `import_items` makes a second run skip what the first imported.
 */
import { createHash } from "node:crypto"
import { Effect, Option, Redacted, Result } from "effect"
import { AccountId } from "../contract/accounts/Account.ts"
import { AccountStore } from "../accounts/AccountStore.ts"
import { AccountChanged } from "../contract/events/UserEvent.ts"
import { EventBus } from "../events/EventBus.ts"
import { fromSqlError } from "../platform/Database.ts"
import { RuleLimits } from "../contract/rules/Rule.ts"
import { RuleStore, RuleStoreLimits } from "../rules/RuleStore.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { normaliseEmail } from "../users/normaliseEmail.ts"
import { UserScope } from "../users/UserScope.ts"
import { ImportUserNotFound } from "./ImportErrors.ts"
import {
  type AccountMapping,
  mapOldAccount,
  mapOldCorrection,
  mapOldRule,
  parseJsonColumn,
  trustedSenderReason
} from "./Mapping.ts"
import { decryptField, unwrapDataKey } from "./OldCrypto.ts"
import { ImportStore } from "./ImportStore.ts"
import { describeSource, type OldSnapshot, type OldSource, readOldSnapshot } from "./OldStore.ts"
import { applyPendingCorrections } from "./PendingCorrections.ts"

export const ImportKinds = ["account", "rule", "correction", "tag", "trustedSender"] as const
export type ImportKind = (typeof ImportKinds)[number]

/** `imported` (or would be, in a dry run), `skipped` (imported before), `unmapped` (no equivalent). */
export type ImportOutcome = "imported" | "skipped" | "unmapped"

export interface ImportItem {
  readonly kind: ImportKind
  /** The old row, as a person finds it: "rule 4 'Rechnungen'". Never a secret. */
  readonly source: string
  readonly outcome: ImportOutcome
  /** Why unmapped or skipped, or what differs after the mapping. */
  readonly details: ReadonlyArray<string>
}

export interface ImportReport {
  readonly dryRun: boolean
  readonly source: string
  readonly schemaVersion: string
  readonly user: string
  readonly items: ReadonlyArray<ImportItem>
  /** Imported corrections whose mail was already here and got them now. */
  readonly correctionsApplied: number
}

export interface KindCounts {
  readonly imported: number
  readonly skipped: number
  readonly unmapped: number
}

export const countsOf = (report: ImportReport, kind: ImportKind): KindCounts => {
  const items = report.items.filter((item) => item.kind === kind)
  return {
    imported: items.filter((i) => i.outcome === "imported").length,
    skipped: items.filter((i) => i.outcome === "skipped").length,
    unmapped: items.filter((i) => i.outcome === "unmapped").length
  }
}

export interface ImportRequest {
  readonly source: OldSource
  /** Our user's email; the old database's user is found by the same email. */
  readonly email: string
  readonly masterPassword: Redacted.Redacted<string>
  readonly dryRun: boolean
}

/** Identifies the old installation's user (the salt is random per user): stable across copies of the file. */
const originOf = (salt: string, oldUserId: string) =>
  `ki-mail-helper:${createHash("sha256").update(salt).digest("hex").slice(0, 16)}:${oldUserId}`
/** The salt (or, for a user from before the data key, the sealed master key, itself salted and random). */
const userEntropy = (user: OldSnapshot["user"]): string => user.salt ?? user.legacyMasterKey ?? user.email

const quoted = (name: string | null) =>
  name === null ? "" : ` '${name.length > 60 ? `${name.slice(0, 57)}...` : name}'`

export const runImport = (request: ImportRequest) =>
  Effect.gen(function* () {
    const scope = yield* UserScope
    const store = yield* ImportStore
    const accounts = yield* AccountStore
    const rules = yield* RuleStore
    const bus = yield* EventBus

    const email = normaliseEmail(request.email)
    // a plain query, not UserStore.findByEmail: the worker (import job) must not load UserStore.ts
    const found = yield* store.findUserIdByEmail(email).pipe(Effect.mapError(fromSqlError))
    if (Option.isNone(found)) {
      return yield* new ImportUserNotFound({
        message: `no user with email ${email} here; create it first (users create)`
      })
    }
    const owner: UserId = found.value

    const snapshot = yield* readOldSnapshot(request.source, email)
    const dek = yield* unwrapDataKey(request.masterPassword, snapshot.user)
    const origin = originOf(userEntropy(snapshot.user), snapshot.user.id)
    // the data key is needed only for the account fields below; zeroed right after them

    // decrypt what we need (host, username, password of each account), in memory only
    const decrypted = yield* Effect.forEach(snapshot.accounts, (account) =>
      Effect.gen(function* () {
        const what = `mail account ${account.id}`
        const host = yield* decryptField(dek, account.encryptedHost, `${what}: IMAP server`)
        const username = yield* decryptField(dek, account.encryptedUsername, `${what}: IMAP username`)
        const password = yield* decryptField(dek, account.encryptedPassword, `${what}: IMAP password`)
        const mapping: AccountMapping = mapOldAccount({
          name: account.name,
          authType: account.authType,
          host: Redacted.value(host),
          port: account.port,
          encryption: account.encryption,
          username: Redacted.value(username),
          passwordLength: Redacted.value(password).length,
          enabled: account.enabled,
          includeFoldersJson: account.includeFoldersJson,
          excludeFoldersJson: account.excludeFoldersJson
        })
        return { old: account, mapping, password }
      })
    ).pipe(Effect.ensuring(Effect.sync(() => Redacted.value(dek).fill(0))))

    const items: Array<ImportItem> = []
    /** Accounts this import created, announced (`account.changed`) once its transaction committed. */
    const createdAccounts: Array<{ readonly id: AccountId; readonly disabled: boolean }> = []
    /** A write: skipped in a dry run (which then yields undefined). */
    const write = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A | undefined, E, R> =>
      request.dryRun ? Effect.succeed(undefined) : effect

    const correctionsApplied = yield* scope.run(
      owner,
      Effect.gen(function* () {
        // two imports for one user at once would both pass the "already imported" checks
        yield* store.lockOwnerImports(owner)
        const done = yield* store.importedItems(owner, origin)
        const doneKey = new Map(done.map((row) => [`${row.kind}:${row.source_key}`, row.target_id]))
        const record = (kind: "account" | "rule" | "correction", sourceKey: string, targetId: string | null) =>
          write(store.recordItem(owner, origin, kind, sourceKey, targetId))

        // --- accounts -----------------------------------------------------------------------
        const existing = yield* accounts.list(owner)
        const accountFor = new Map<string, string>()
        for (const { old, mapping, password } of decrypted) {
          const source = `mail account ${old.id}${quoted(old.name)}`
          const previous = doneKey.get(`account:${old.id}`)
          if (previous !== undefined) {
            if (previous !== null) accountFor.set(old.id, previous)
            items.push({ kind: "account", source, outcome: "skipped", details: ["imported before"] })
            continue
          }
          if (mapping._tag === "Unmapped") {
            items.push({ kind: "account", source, outcome: "unmapped", details: mapping.reasons })
            continue
          }
          const fields = mapping.account
          const same = existing.find(
            (a) => a.host.toLowerCase() === fields.host && a.port === fields.port && a.username === fields.username
          )
          if (same !== undefined) {
            // the user added it here already: keep theirs, but let corrections find their mail in it
            accountFor.set(old.id, same.id)
            yield* record("account", old.id, same.id)
            items.push({
              kind: "account",
              source,
              outcome: "skipped",
              details: ["an account for this server and username exists here"]
            })
            continue
          }
          const id = AccountId.make(crypto.randomUUID())
          accountFor.set(old.id, id)
          yield* write(
            Effect.gen(function* () {
              yield* accounts.insert(owner, {
                id,
                label: fields.label,
                host: fields.host,
                port: fields.port,
                security: fields.security,
                username: fields.username,
                password,
                syncIntervalMinutes: fields.syncIntervalMinutes
              })
              if (fields.disabled) yield* accounts.setStatus(owner, id, "disabled", "imported disabled")
            })
          )
          yield* record("account", old.id, id)
          if (!request.dryRun) createdAccounts.push({ id, disabled: fields.disabled })
          items.push({ kind: "account", source, outcome: "imported", details: mapping.notes })
        }

        // --- rules (lower old priority first; after the user's own rules) -------------------------
        const standing = yield* store.ruleStanding(owner)
        let ruleCount = standing.count
        let nextPriority = (standing.maxPriority ?? 0) + 10
        for (const old of snapshot.rules) {
          const source = `rule ${old.id}${quoted(old.name)}`
          if (doneKey.has(`rule:${old.id}`)) {
            items.push({ kind: "rule", source, outcome: "skipped", details: ["imported before"] })
            continue
          }
          const conditions = parseJsonColumn(old.conditionsJson, "conditions_json")
          const actions = parseJsonColumn(old.actionsJson, "actions_json")
          if (Result.isFailure(conditions) || Result.isFailure(actions)) {
            const reasons = [conditions, actions].flatMap((r) => (Result.isFailure(r) ? [r.failure] : []))
            items.push({ kind: "rule", source, outcome: "unmapped", details: reasons })
            continue
          }
          const mapping = mapOldRule(
            { name: old.name, active: old.active, conditions: conditions.success, actions: actions.success },
            Math.min(nextPriority, RuleLimits.priorityMax)
          )
          if (mapping._tag === "Unmapped") {
            items.push({ kind: "rule", source, outcome: "unmapped", details: mapping.reasons })
            continue
          }
          if (ruleCount >= RuleStoreLimits.maxRulesPerUser) {
            items.push({
              kind: "rule",
              source,
              outcome: "unmapped",
              details: [`a user may have at most ${RuleStoreLimits.maxRulesPerUser} rules here`]
            })
            continue
          }
          nextPriority += 10
          ruleCount += 1
          const created = yield* write(rules.create(owner, mapping.rule))
          yield* record("rule", old.id, created?.id ?? null)
          items.push({ kind: "rule", source, outcome: "imported", details: mapping.notes })
        }

        // --- corrections (with the tags on them) ------------------------------------------------
        let withoutCorrection = 0
        const correctionOutcome = new Map<string, ImportOutcome>()
        const outcomeOf = (id: string, outcome: ImportOutcome) => {
          correctionOutcome.set(id, outcome)
          return outcome
        }
        for (const old of snapshot.corrections) {
          const source = `processed mail ${old.id}`
          const mapping = mapOldCorrection(old)
          if (mapping._tag === "NotACorrection") {
            withoutCorrection += 1
            continue
          }
          if (doneKey.has(`correction:${old.id}`)) {
            items.push({
              kind: "correction",
              source,
              outcome: outcomeOf(old.id, "skipped"),
              details: ["imported before"]
            })
            continue
          }
          if (mapping._tag === "Unmapped") {
            items.push({ kind: "correction", source, outcome: outcomeOf(old.id, "unmapped"), details: mapping.reasons })
            continue
          }
          const accountId = accountFor.get(old.accountId)
          if (accountId === undefined) {
            items.push({
              kind: "correction",
              source,
              outcome: outcomeOf(old.id, "unmapped"),
              details: [`its mail account ${old.accountId} was not imported`]
            })
            continue
          }
          yield* write(store.addPendingCorrection(owner, accountId, mapping.correction))
          yield* record("correction", old.id, null)
          items.push({ kind: "correction", source, outcome: outcomeOf(old.id, "imported"), details: mapping.notes })
        }
        if (withoutCorrection > 0) {
          items.push({
            kind: "correction",
            source: `${withoutCorrection} processed mails`,
            outcome: "skipped",
            details: ["only the old AI's results, no correction by the user: our analysis runs again on the mail"]
          })
        }

        // --- tags: here a tag lives on messages (and in rules); there is no list of tags -------------
        for (const tag of snapshot.tags) {
          const source = `tag ${tag.id} '${tag.name}'`
          const carriers = snapshot.corrections.filter((c) => c.tags.includes(tag.name))
          const outcomes = carriers.map((c) => correctionOutcome.get(c.id))
          const imported = outcomes.filter((o) => o === "imported").length
          if (imported > 0) {
            items.push({
              kind: "tag",
              source,
              outcome: "imported",
              details: [`on ${imported} message(s), with their corrections`]
            })
          } else if (outcomes.some((o) => o === "skipped")) {
            items.push({
              kind: "tag",
              source,
              outcome: "skipped",
              details: ["its messages' corrections were imported before"]
            })
          } else {
            items.push({
              kind: "tag",
              source,
              outcome: "unmapped",
              details: [
                carriers.length === 0
                  ? "no message carries it, and tags here exist only on messages (a rule's addTag can still set it)"
                  : "the corrections of the messages that carry it were not imported (see above)"
              ]
            })
          }
        }

        for (const sender of snapshot.trustedSenders) {
          items.push({
            kind: "trustedSender",
            source: `trusted sender ${sender.id} '${sender.pattern}'${sender.patternType === null ? "" : ` (${sender.patternType})`}`,
            outcome: "unmapped",
            details: [trustedSenderReason]
          })
        }

        // mail that is already here (the account existed, or a sync ran before) gets its corrections now
        return request.dryRun ? 0 : yield* applyPendingCorrections(owner)
      })
    )

    yield* Effect.forEach(
      createdAccounts,
      ({ id, disabled }) =>
        bus.publish(
          owner,
          new AccountChanged({
            occurredAt: new Date(),
            accountId: id,
            status: disabled ? "disabled" : "active",
            message: disabled ? "imported disabled" : null,
            change: "created"
          })
        ),
      { discard: true }
    )

    const report: ImportReport = {
      dryRun: request.dryRun,
      source: describeSource(request.source),
      schemaVersion: snapshot.schemaVersion,
      user: email,
      items,
      correctionsApplied
    }
    return report
  }).pipe(
    Effect.catchTag("SqlError", (error) => Effect.fail(fromSqlError(error))),
    // the store's own layer: callers (CLI, job) provide only SqlClient and UserScope, as before
    Effect.provide(ImportStore.layer),
    Effect.withSpan("import.run", {
      attributes: { "import.dryRun": request.dryRun, "import.source": request.source._tag }
    })
  )

/** The report as text: counts per kind, then every item that was not simply imported or has a note. */
export const formatReport = (report: ImportReport): string => {
  const lines: Array<string> = []
  lines.push(
    `${report.dryRun ? "DRY RUN (nothing written): " : ""}import from ${report.source} (schema ${report.schemaVersion}) for ${report.user}`
  )
  const verb = report.dryRun ? "would import" : "imported"
  for (const kind of ImportKinds) {
    const c = countsOf(report, kind)
    lines.push(`  ${kind.padEnd(14)} ${verb} ${c.imported}, skipped ${c.skipped}, unmapped ${c.unmapped}`)
  }
  if (!report.dryRun) lines.push(`  corrections applied to mail already here: ${report.correctionsApplied}`)
  for (const item of report.items) {
    if (item.outcome === "imported" && item.details.length === 0) continue
    const label = item.outcome === "imported" ? (report.dryRun ? "would import" : "imported") : item.outcome
    lines.push(`${label}: ${item.source}`)
    for (const detail of item.details) lines.push(`    - ${detail}`)
  }
  return lines.join("\n")
}
