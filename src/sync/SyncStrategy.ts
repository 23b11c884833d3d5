/**
 * The strategy the sync (and the rule actions) use on a server, decided from what the server said
 * after login. The same rules as the code that acts on them:
 * - listing: imapflow's `list({ statusQuery })` sends `LIST ... RETURN (STATUS ...)` when LIST-STATUS
 *   is announced (or folded into an active IMAP4rev2), else one STATUS per mailbox;
 * - flags / expunges: MailSync.ts uses CHANGEDSINCE when CONDSTORE is enabled on the connection and
 *   SYNC_USE_CONDSTORE allows it, VANISHED when QRESYNC is enabled too; otherwise every flag of every
 *   stored message is fetched on each sync and its UID list shows the expunges;
 * - names: UTF-8 when UTF8=ACCEPT was enabled (or IMAP4rev2 is active), else modified UTF-7;
 * - special use: the server's attributes with SPECIAL-USE, else imapflow's well-known names;
 * - rule moves: UID MOVE with MOVE; else COPY, \Deleted and UID EXPUNGE (UIDPLUS); else a plain
 *   EXPUNGE, which would also remove other messages marked \Deleted, so the rule action guards it.
 *
 * A mailbox the server reports without a HIGHESTMODSEQ (NOMODSEQ) gets the full flag scan even on a
 * CONDSTORE server: the strategy is the account's, the fallback is per mailbox.
 *
 * Why a server without CONDSTORE gets its flags fetched on every sync, not every N syncs: nothing
 * cheaper shows a flag change. EXISTS and UIDNEXT only move for arrivals and expunges; a message
 * read or flagged on another device changes neither. Scanning every N syncs would leave such a
 * change unseen for up to N sync intervals, and rules and analysis act on those flags. One UID
 * FETCH of FLAGS costs about 52 bytes per message: 2.6 MB for a 50,000-message mailbox (measured on
 * Dovecot, mixed flags: `npx tsx bench/flagScan.ts`).
 */
import type { ServerProfile, SyncStrategy, SyncStrategyExplanation } from "../contract/accounts/Account.ts"

export interface StrategyInput {
  /** Capabilities after login, as announced (any case). */
  readonly capabilities: Iterable<string>
  /** Extensions ENABLEd on the connection (any case). */
  readonly enabled: Iterable<string>
  /** SYNC_USE_CONDSTORE: false makes the sync ignore CONDSTORE and QRESYNC. */
  readonly useCondstore: boolean
}

/** Capabilities an active IMAP4rev2 session has without announcing them (RFC 9051 Appendix E; imapflow). */
const REV2_FOLDED = new Set(["LIST-STATUS", "MOVE", "SPECIAL-USE", "UIDPLUS"])

const upper = (values: Iterable<string>): ReadonlySet<string> => new Set([...values].map((v) => v.toUpperCase()))

export const decideStrategy = (
  input: StrategyInput
): { strategy: SyncStrategy; explanation: SyncStrategyExplanation } => {
  const capabilities = upper(input.capabilities)
  const enabled = upper(input.enabled)
  const rev2 = enabled.has("IMAP4REV2") || (capabilities.has("IMAP4REV2") && !capabilities.has("IMAP4REV1"))
  const has = (name: string) => capabilities.has(name) || (rev2 && REV2_FOLDED.has(name))

  const listing: SyncStrategy["listing"] = has("LIST-STATUS") ? "LIST-STATUS" : "LIST+STATUS"
  const condstore = input.useCondstore && enabled.has("CONDSTORE")
  const flags: SyncStrategy["flags"] = condstore ? "CONDSTORE" : "full flag scan"
  const expunges: SyncStrategy["expunges"] = !condstore
    ? "flag scan comparison"
    : enabled.has("QRESYNC")
      ? "QRESYNC"
      : "UID SEARCH comparison"
  const names: SyncStrategy["names"] = enabled.has("UTF8=ACCEPT") || rev2 ? "UTF-8" : "modified UTF-7"
  const specialUse: SyncStrategy["specialUse"] = has("SPECIAL-USE") ? "SPECIAL-USE" : "names"
  const ruleMoves: SyncStrategy["ruleMoves"] = has("MOVE")
    ? "MOVE"
    : has("UIDPLUS")
      ? "COPY+EXPUNGE"
      : "COPY+EXPUNGE without UIDPLUS (guarded)"

  const noCondstoreReason = input.useCondstore ? "no CONDSTORE" : "CONDSTORE not used (SYNC_USE_CONDSTORE=false)"
  return {
    strategy: { listing, flags, expunges, names, specialUse, ruleMoves },
    explanation: {
      listing:
        listing === "LIST-STATUS"
          ? "LIST-STATUS: one LIST returns every mailbox's counters; an unchanged mailbox is skipped without SELECT"
          : "no LIST-STATUS: LIST, then one STATUS per mailbox",
      flags: condstore
        ? "CONDSTORE: only flags changed since the stored modseq are fetched (a mailbox without modseqs gets the full scan)"
        : `${noCondstoreReason}: every flag of every stored message is fetched on each sync, and no mailbox is skipped as unchanged`,
      expunges:
        expunges === "QRESYNC"
          ? "QRESYNC: the server names the expunged UIDs (VANISHED)"
          : expunges === "UID SEARCH comparison"
            ? "no QRESYNC: when the message count differs, UID SEARCH ALL is compared with the stored UIDs"
            : "the full flag scan's UID list is compared with the stored UIDs",
      names:
        names === "UTF-8"
          ? "UTF8=ACCEPT: mailbox names travel as UTF-8"
          : "no UTF8=ACCEPT: mailbox names travel as modified UTF-7 (RFC 3501) and are stored decoded",
      specialUse:
        specialUse === "SPECIAL-USE"
          ? "SPECIAL-USE: Sent, Drafts, Trash, Junk and Archive come from the server's attributes"
          : "no SPECIAL-USE: Sent, Drafts, Trash, Junk and Archive are recognised by well-known names",
      ruleMoves:
        ruleMoves === "MOVE"
          ? "MOVE: a rule's move or delete is one UID MOVE"
          : ruleMoves === "COPY+EXPUNGE"
            ? "no MOVE: a rule's move is UID COPY, \\Deleted and UID EXPUNGE of exactly those UIDs (UIDPLUS)"
            : "no MOVE and no UIDPLUS: a move is COPY, \\Deleted and EXPUNGE, which would remove every message marked \\Deleted, so the rule action is guarded"
    }
  }
}

// ---------------------------------------------------------------------------------------------
// what a session reported, bounded before it is stored and shown

const MAX_CAPABILITIES = 200
const MAX_ATOM = 100
const MAX_TEXT = 200

/** Printable text only (a hostile server's control characters never reach the API), bounded. */
const clean = (value: string, max: number): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
  value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").slice(0, max)

export interface SessionFacts extends StrategyInput {
  /** imapflow's ID answer (`serverInfo`); null when the server has no ID. */
  readonly serverId: { readonly name?: unknown; readonly version?: unknown } | null
  readonly namespace: { readonly prefix: string; readonly delimiter: string | null } | null
}

/** The server profile a sync records on the account. */
export const serverProfile = (facts: SessionFacts): ServerProfile => {
  const { strategy, explanation } = decideStrategy(facts)
  const text = (value: unknown) => (typeof value === "string" ? clean(value, MAX_TEXT).trim() : "")
  const product = [text(facts.serverId?.name), text(facts.serverId?.version)].filter((part) => part !== "").join(" ")
  const atoms = (values: Iterable<string>) =>
    [...new Set([...values].map((value) => clean(value, MAX_ATOM)).filter((value) => value !== ""))]
      .sort()
      .slice(0, MAX_CAPABILITIES)
  return {
    capabilities: atoms(facts.capabilities),
    enabled: atoms(facts.enabled),
    product: product === "" ? null : product.slice(0, MAX_TEXT),
    namespace:
      facts.namespace === null
        ? null
        : {
            prefix: clean(facts.namespace.prefix, MAX_TEXT),
            separator:
              facts.namespace.delimiter === null || facts.namespace.delimiter === ""
                ? null
                : clean(facts.namespace.delimiter, 8)
          },
    strategy,
    explanation
  }
}
