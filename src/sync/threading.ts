/**
 * Thread assignment across batches and syncs. A thread id is an opaque, account-scoped hash of a
 * thread key (a normalised Message-ID from `threadKeyCandidates`). For each message, in UID order:
 * every candidate is looked up both as an id that a stored message links by (its own Message-ID,
 * In-Reply-To or References: `emails.thread_refs`) and as a thread key already in use; the first
 * hit, in candidate order, wins. A message that links two existing threads merges them (union-find;
 * the caller re-labels the stored rows). So two messages that share any id end in one thread, in
 * whatever order and folders they arrive: a parent stored after its replies finds them through the
 * ids they reference, even when its own Message-ID is no thread key.
 * Without any hit the message starts the thread of its best candidate, which is what its
 * well-behaved replies and ancestors compute too, so they meet without a look-up.
 */
import { createHash } from "node:crypto"

/** At most this many candidates per message are considered (hostile References lists). */
export const maxCandidates = 30

export const threadIdFor = (accountId: string, key: string): string =>
  `t${createHash("sha256").update(`${accountId}\n${key}`).digest("base64url").slice(0, 26)}`

export interface ThreadInput {
  /** `threadKeyCandidates(parsed)`, best first (normalised ids without brackets). */
  readonly candidates: ReadonlyArray<string>
  /** The message's own normalised Message-ID, if any. */
  readonly ownId: string | null
  /** A key unique to the message, for one without any candidate (e.g. mailbox:uidvalidity:uid). */
  readonly fallbackKey: string
}

/** What the database already knows about the batch's candidates. */
export interface KnownThreads {
  /** Normalised Message-ID -> thread ids of stored messages that have or reference that id. */
  readonly byMessageId: ReadonlyMap<string, ReadonlyArray<string>>
  /** Thread ids (hashes of candidates) already used by stored messages. */
  readonly threadIds: ReadonlySet<string>
}

export interface ThreadAssignment {
  /** The thread of each input, in input order (after merges). */
  readonly threads: ReadonlyArray<string>
  /** Stored threads to re-label: from -> to. */
  readonly merges: ReadonlyMap<string, string>
}

export const assignThreads = (
  accountId: string,
  inputs: ReadonlyArray<ThreadInput>,
  known: KnownThreads
): ThreadAssignment => {
  const parent = new Map<string, string>()
  const find = (thread: string): string => {
    let root = thread
    for (let next = parent.get(root); next !== undefined; next = parent.get(root)) root = next
    // path compression
    let current = thread
    while (current !== root) {
      const next = parent.get(current) ?? root
      parent.set(current, root)
      current = next
    }
    return root
  }
  const byMessageId = new Map<string, Array<string>>()
  for (const [id, threads] of known.byMessageId) byMessageId.set(id, [...threads])
  const threadIds = new Set(known.threadIds)

  const assigned = inputs.map((input) => {
    const candidates = input.candidates.slice(0, maxCandidates)
    const found: Array<string> = []
    for (const candidate of candidates) {
      for (const thread of byMessageId.get(candidate) ?? []) found.push(find(thread))
      const keyed = threadIdFor(accountId, candidate)
      if (threadIds.has(keyed)) found.push(find(keyed))
    }
    const thread = found[0] ?? threadIdFor(accountId, candidates[0] ?? input.fallbackKey)
    for (const other of found.slice(1)) {
      const root = find(other)
      if (root !== thread) parent.set(root, thread)
    }
    threadIds.add(thread)
    // every id the message links by, not only its own: a parent that comes later in the batch finds
    // its replies through the ids they reference (order independence, as the stored look-up)
    for (const id of input.ownId === null ? candidates : [...candidates, input.ownId]) {
      const list = byMessageId.get(id)
      if (list === undefined) byMessageId.set(id, [thread])
      else if (!list.includes(thread)) list.push(thread)
    }
    return thread
  })

  const merges = new Map<string, string>()
  for (const from of parent.keys()) merges.set(from, find(from))
  return { threads: assigned.map(find), merges }
}
