import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Imap, type ImapConnectOptions } from "../../src/imap/Imap.ts"
import { Dovecot, type DovecotServer, publicMailbox } from "../harness/dovecot.ts"

/*
 * A personal namespace with a prefix ("INBOX." with ".", as on Courier and many hosting providers) next to
 * a public namespace ("Public."): imapflow puts the personal prefix in front of every path, so the product
 * could neither list "Public.Announcements" nor open it (SELECT went out as "INBOX.Public.Announcements").
 */
const PASSWORD = "s3cret-Passw0rd"
const message = (subject: string) =>
  `From: a@example.test\r\nTo: b@example.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@ns.test>\r\n\r\nbody\r\n`

const options = (server: DovecotServer, user: string): ImapConnectOptions => ({
  host: server.host,
  port: server.port,
  security: "none",
  username: user,
  password: Redacted.make(PASSWORD),
  timeoutMs: 5_000
})

const TestLayer = Layer.merge(
  Imap.layer,
  Dovecot.layer({
    users: [{ user: "reader", pass: PASSWORD }],
    namespace: { prefix: "INBOX.", separator: "." },
    publicNamespace: true
  })
)

layer(TestLayer, { excludeTestServices: true, timeout: "60 seconds" })(
  "Imap with a prefixed personal namespace",
  (it) => {
    it.effect("lists and opens a public folder as listed; a typed folder name still gets the personal prefix", () =>
      Effect.gen(function* () {
        const imap = yield* Imap
        const server = yield* Dovecot
        publicMailbox(server.root, "Announcements", ["user=reader lrwsi"])
        yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* imap.connect(options(server, "reader"))
            assert.deepStrictEqual(session.namespace, { prefix: "INBOX.", delimiter: "." })

            const appended = yield* session.append("Public.Announcements", message("public"))
            const listed = yield* session.listMailboxes()
            const paths = listed.map((mailbox) => mailbox.path)
            assert.include(paths, "Public.Announcements")
            assert.include(paths, "INBOX")
            assert.strictEqual(paths.length, new Set(paths).size, `listed twice: ${paths.join(", ")}`)
            const opened = yield* session.openMailbox("Public.Announcements")
            assert.strictEqual(opened.exists, 1)
            assert.strictEqual(opened.uidValidity, appended.uidValidity)
            assert.deepStrictEqual<ReadonlyArray<number | null>>(yield* session.searchUids("Public.Announcements"), [
              appended.uid
            ])

            // a folder name as a user types it is still in the personal namespace, as imapflow made it
            yield* Effect.promise(() => server.createMailbox("reader", "INBOX.Filed"))
            yield* session.append("Filed", message("filed"))
            const filed = yield* session.openMailbox("INBOX.Filed")
            assert.strictEqual(filed.exists, 1)
            assert.deepStrictEqual(yield* session.searchUids("Filed"), yield* session.searchUids("INBOX.Filed"))
          })
        )
      })
    )
  }
)
