/**
 * The drills that fit CI's time (npm run drill:ci, about three minutes), one after another with
 * smaller settings: redis-restart, postgres-restart, worker-kill (every job kind) and load
 * (200 users for 15 s). dovecot-stop is left to `npm run drill:dovecot-stop`: the sync's retry
 * backoff (15 s and more) alone makes it longer than CI's budget for drills.
 * Exits non-zero when a drill fails; each drill's own report is printed as it finishes.
 */
import { spawn } from "node:child_process"

const drills: ReadonlyArray<{ readonly name: string; readonly env: Record<string, string> }> = [
  { name: "redis-restart", env: { DRILL_CLIENTS: "10", DRILL_PHASE_SECONDS: "5", DRILL_DOWN_SECONDS: "3" } },
  { name: "postgres-restart", env: { DRILL_CLIENTS: "8", DRILL_PHASE_SECONDS: "5", DRILL_DOWN_SECONDS: "3" } },
  { name: "worker-kill", env: { DRILL_MESSAGES: "1200" } },
  {
    name: "load",
    env: { DRILL_USERS: "200", DRILL_SECONDS: "15", DRILL_MAIL_USERS: "4", DRILL_MAIL_MESSAGES: "100" }
  }
]

const run = (name: string, env: Record<string, string>) =>
  new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", `scripts/drills/${name}.ts`], {
      env: { ...process.env, ...env },
      stdio: "inherit"
    })
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? 1 : 128)))
  })

const results: Array<{ name: string; code: number; seconds: number }> = []
const started = Date.now()
for (const drill of drills) {
  process.stdout.write(`\n######## drill:${drill.name} ${JSON.stringify(drill.env)}\n`)
  const begin = Date.now()
  const code = await run(drill.name, drill.env)
  results.push({ name: drill.name, code, seconds: (Date.now() - begin) / 1000 })
}
process.stdout.write("\n######## drill:ci summary\n")
for (const result of results) {
  process.stdout.write(
    `  ${result.code === 0 ? "PASSED" : `FAILED (exit ${result.code})`}  ${result.name}  ${result.seconds.toFixed(0)} s\n`
  )
}
process.stdout.write(`  total ${((Date.now() - started) / 1000).toFixed(0)} s\n`)
process.exit(results.every((result) => result.code === 0) ? 0 : 1)
