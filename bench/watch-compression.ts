/**
 * What COMPRESS=DEFLATE costs a watching connection: `npx tsx bench/watch-compression.ts [--connections=100]`
 * (about a minute). A throw-away Dovecot with `connections` users that offers COMPRESS=DEFLATE
 * (imap_zlib, as Gmail and most Dovecots do), then bench/support/watchMemory.ts against it, twice:
 * once as it is (its `imapflow` layer takes COMPRESS, imapflow's default; its `imapWatch` layer is
 * our watcher, which does not), once against the same Dovecot without imap_zlib. Prints the per-
 * connection kB (after GC) of each layer for both: the difference of the `imapflow` lines is the
 * zlib pair's cost; the `imapWatch` line should be the same in both.
 */
import * as os from "node:os"
import { startDovecot } from "../test/harness/dovecot.ts"
import { dovecotLimits } from "./support/dovecotLimits.ts"
import { probeWatchMemory } from "./support/watchMemoryProbe.ts"

const given = process.argv.find((arg) => arg.startsWith("--connections="))
const connections = given === undefined ? 100 : Number(given.slice("--connections=".length))
const password = "bench-compress-password"
const users = Array.from({ length: connections }, (_, i) => ({ user: `wc${i}`, pass: password }))

for (const compress of [true, false]) {
  const zlib = compress ? "\nprotocol imap {\n  mail_plugins = $mail_plugins imap_zlib\n}\n" : ""
  const dovecot = await startDovecot({ users, extraConfig: dovecotLimits(connections) + zlib })
  try {
    const probe = probeWatchMemory({
      port: dovecot.port,
      connections,
      userPrefix: "wc",
      password,
      timeoutMs: 300_000
    })
    process.stdout.write(
      `COMPRESS=DEFLATE offered ${compress}: ${probe} (load ${os
        .loadavg()
        .map((value) => value.toFixed(2))
        .join(" ")})\n`
    )
  } finally {
    await dovecot.stop()
  }
}
