/**
 * A watching connection never negotiates COMPRESS=DEFLATE (ImapWatch.ts, ClientTuning's
 * disableCompression): its zlib pair would hold ~300 kB of native memory per watched account for
 * the connection's whole life (measured with bench/realtime-memory.ts --compress). Against a Dovecot
 * that offers COMPRESS=DEFLATE (imap_zlib), zlib streams are counted as Node creates them (async
 * hooks' "ZLIB" resources): a plain imapflow client makes some (the server offers it and the count
 * sees it), a watcher up to NOTIFY makes none.
 */
import { createHook } from "node:async_hooks"
import { assert, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Redacted } from "effect"
import { ImapFlow } from "imapflow"
import { ImapWatch, type WatchMode } from "../../src/imap/ImapWatch.ts"
import { dovecotScoped } from "../harness/dovecot.ts"

const user = { user: "zlib-watch", pass: "zlib-watch-pass" }

/** Counts the zlib streams created while `body` runs. */
const zlibStreamsDuring = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    let created = 0
    const hook = createHook({
      init: (_id, type) => {
        if (type === "ZLIB") created++
      }
    })
    const value = yield* Effect.acquireUseRelease(
      Effect.sync(() => hook.enable()),
      () => body,
      () => Effect.sync(() => hook.disable())
    )
    return { value, created }
  })

it.live(
  "a watching connection does not take COMPRESS=DEFLATE where a plain imapflow client does",
  () =>
    Effect.gen(function* () {
      const dovecot = yield* dovecotScoped({
        users: [user],
        extraConfig: "\nprotocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n"
      })

      // the server offers it, imapflow takes it by default, and the count sees it
      const plain = yield* zlibStreamsDuring(
        Effect.promise(async () => {
          const client = new ImapFlow({
            host: dovecot.host,
            port: dovecot.port,
            secure: false,
            auth: { user: user.user, pass: user.pass },
            logger: false
          })
          await client.connect()
          const offered = client.capabilities.has("COMPRESS=DEFLATE")
          await client.logout()
          return offered
        })
      )
      assert.isTrue(plain.value, "the Dovecot offers COMPRESS=DEFLATE")
      assert.isAbove(plain.created, 0, "a plain imapflow client compresses")

      const watched = yield* zlibStreamsDuring(
        Effect.gen(function* () {
          const watch = yield* ImapWatch
          const ready = yield* Deferred.make<WatchMode>()
          const fiber = yield* Effect.forkChild(
            watch.watch(
              {
                host: dovecot.host,
                port: dovecot.port,
                security: "none",
                username: user.user,
                password: Redacted.make(user.pass),
                timeoutMs: 15_000
              },
              {
                folders: [],
                maxIdleTimeMs: 60_000,
                permit: Effect.void,
                onChange: () => undefined,
                onReady: (mode) => Deferred.succeed(ready, mode).pipe(Effect.asVoid)
              }
            )
          )
          const mode = yield* Deferred.await(ready).pipe(Effect.timeout("20 seconds"))
          yield* Fiber.interrupt(fiber)
          return mode
        }).pipe(Effect.provide(ImapWatch.layer))
      )
      assert.strictEqual(watched.value, "notify")
      assert.strictEqual(watched.created, 0, "the watching connection made zlib streams (COMPRESS negotiated)")
    }).pipe(Effect.scoped),
  60_000
)
