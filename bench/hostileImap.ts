/**
 * What a hostile IMAP server costs the process that logs in to it: two concurrent login checks (as
 * two account creations on the API do) against a server that floods them, through the real `Imap`
 * service, once with imapflow's own limits (1 GiB lines and literals, what Imap.ts used before) and
 * once with the limits derived from the sync's configuration (`imapLimitsFor`). Each case runs in
 * a fresh process, so one case's heap does not hide the next one's growth.
 *
 *   node bench/hostileImap.ts [floodMiB per connection, default 600]
 */
import { spawn } from "node:child_process"
import { Effect, Redacted } from "effect"
import { Imap, type ImapLimits } from "../src/imap/Imap.ts"
import { makeImapDestinations, parseAllowList } from "../src/imap/ImapDestinations.ts"
import { imapLimitsFor, imapFetchSizesConfig } from "../src/imap/ImapLimits.ts"
import { flood, startHostileImap } from "../test/harness/hostileImap.ts"

const MiB = 1024 * 1024
const attacks = {
  "endless greeting line": "* OK ",
  "greeting, then a {1000000000} literal": "* OK hello\r\n* 1 FETCH (BODY[] {1000000000}\r\n"
} as const
type Attack = keyof typeof attacks

/** imapflow 2.10's defaults (handler/limits.js), i.e. no limits passed. */
const imapflowDefaults: ImapLimits = {
  maxLineBytes: 1024 * MiB,
  maxLiteralBytes: 1024 * MiB,
  maxResponseBytes: 2048 * MiB,
  maxResponseTokens: 1_000_000,
  maxFetchBytes: Number.POSITIVE_INFINITY
}

const child = async (attack: Attack, bounded: boolean, floodBytes: number) => {
  const limits = bounded
    ? imapLimitsFor(
        await Effect.runPromise(
          Effect.gen(function* () {
            return yield* imapFetchSizesConfig
          })
        )
      )
    : imapflowDefaults
  const server = await startHostileImap({
    greeting: async (connection) => {
      await connection.write(attacks[attack])
      await flood(connection, Buffer.alloc(64 * 1024, "G"), floodBytes)
    }
  })
  // the attacker listens on loopback: the destination policy must let the bench reach it
  const allowed = parseAllowList("")
  if (typeof allowed === "string") throw new Error(allowed)
  const imap = Imap.makeWith(limits, makeImapDestinations({ policy: "any", allowed }))
  const start = process.memoryUsage().rss
  let peak = start
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 2)
  const login = imap
    .connect({
      host: server.host,
      port: server.port,
      security: "none",
      username: "victim",
      password: Redacted.make("not-a-secret"),
      timeoutMs: 15_000,
      socketTimeoutMs: 15_000
    })
    .pipe(
      Effect.scoped,
      Effect.flip,
      Effect.map((error) => `${error._tag}: ${error.message.slice(0, 90)}`)
    )
  const errors = await Effect.runPromise(Effect.all([login, login], { concurrency: 2 }))
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  const end = process.memoryUsage().rss
  await server.close()
  console.log(JSON.stringify({ start, peak, end, sent: server.bytesSent(), errors }))
}

const parent = async (floodBytes: number) => {
  console.log(`two concurrent logins per case, the server floods each connection with up to ${floodBytes / MiB} MiB`)
  for (const attack of Object.keys(attacks) as Array<Attack>) {
    const rows: Array<{ label: string; growth: number }> = []
    for (const bounded of [false, true]) {
      const output = await new Promise<string>((resolve, reject) => {
        const run = spawn(
          process.execPath,
          [import.meta.filename, "--case", attack, String(bounded), String(floodBytes)],
          {
            stdio: ["ignore", "pipe", "inherit"]
          }
        )
        let text = ""
        run.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()))
        run.on("error", reject)
        run.on("close", () => resolve(text.trim().split("\n").pop() ?? ""))
      })
      const result: { start: number; peak: number; end: number; sent: number; errors: Array<string> } =
        JSON.parse(output)
      const label = bounded ? "mail-helper limits" : "imapflow defaults"
      rows.push({ label, growth: result.peak - result.start })
      console.log(
        `${attack} | ${label}: RSS ${(result.start / MiB).toFixed(0)} -> peak ${(result.peak / MiB).toFixed(0)} MB (end ${(result.end / MiB).toFixed(0)} MB), server sent ${(result.sent / MiB).toFixed(0)} MiB; ${result.errors[0]}`
      )
    }
    const [raw, ours] = rows
    if (raw !== undefined && ours !== undefined) {
      console.log(
        `${attack}: RSS growth ${(raw.growth / MiB).toFixed(0)} MB -> ${(ours.growth / MiB).toFixed(0)} MB (ratio ${(raw.growth / Math.max(ours.growth, 1)).toFixed(1)})`
      )
    }
  }
}

const args = process.argv.slice(2)
if (args[0] === "--case") {
  const attack = args[1]
  if (attack !== "endless greeting line" && attack !== "greeting, then a {1000000000} literal") {
    throw new Error(`unknown case ${attack}`)
  }
  await child(attack, args[2] === "true", Number(args[3]))
} else {
  await parent(Number(args[0] ?? 600) * MiB)
}
