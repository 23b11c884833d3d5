import { ImapFlow, type MailboxLockObject } from "imapflow"
import type { DovecotServer } from "../../test/harness/dovecot.ts"
import { generateMessages } from "../../test/harness/mailgen.ts"
import { rate } from "./environment.ts"

/**
 * Generates `count` synthetic messages (a fixed seed, the same in every sync benchmark), prints their
 * size and stores them as Maildir files in `user`'s INBOX, every other one `\Seen`. Returns how long
 * the seeding took (ms). The generated strings are not kept: they would only make the figures that
 * follow pay for garbage collection.
 */
export const seedInbox = async (server: DovecotServer, user: string, count: number): Promise<number> => {
  const generating = performance.now()
  const messages = generateMessages(count, { seed: 20_250_101 })
  const totalBytes = messages.reduce((sum, m) => sum + Buffer.byteLength(m.raw), 0)
  console.log(
    `generated ${count} messages, ${(totalBytes / 1e6).toFixed(1)} MB, mean ${Math.round(totalBytes / count / 1024)} KB in ${((performance.now() - generating) / 1000).toFixed(1)} s`
  )
  const seeding = performance.now()
  await server.seedMaildir(
    user,
    "INBOX",
    messages.map((m, i) => ({ raw: m.raw, flags: i % 2 === 0 ? ["\\Seen"] : [] }))
  )
  return performance.now() - seeding
}

/** A raw imapflow connection (plain text, no IDLE) with INBOX locked read-only; `close` releases both. */
export interface RawInbox {
  readonly client: ImapFlow
  readonly lock: MailboxLockObject
  readonly close: () => Promise<void>
}

export const openRawInbox = async (server: DovecotServer, user: string, pass: string): Promise<RawInbox> => {
  const client = new ImapFlow({
    host: server.host,
    port: server.port,
    secure: false,
    auth: { user, pass },
    logger: false,
    disableAutoIdle: true
  })
  await client.connect()
  const lock = await client.getMailboxLock("INBOX", { readOnly: true })
  return {
    client,
    lock,
    close: async () => {
      lock.release()
      await client.logout()
    }
  }
}

/** Every message of the locked mailbox with its source, as imapflow alone fetches it (one FETCH 1:*). */
export const fetchAllRaw = (client: ImapFlow) =>
  client.fetch("1:*", { uid: true, flags: true, size: true, internalDate: true, source: true }, { uid: true })

/** A printer of figure rows: label (padded to `width`), messages/s, seconds and an optional remark. */
export const messageRateLine =
  (width: number) =>
  (label: string, messages: number, millis: number, extra = ""): void =>
    console.log(
      `${label.padEnd(width)} ${String(rate(messages, millis)).padStart(7)} msg/s  ${(millis / 1000).toFixed(2).padStart(6)} s${extra}`
    )
