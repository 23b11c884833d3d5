/**
 * Runs bench/support/watchMemory.ts as a child (it needs --expose-gc and a process of its own) against
 * a Dovecot whose users are `<userPrefix><i>`; for bench/realtime.ts (step 0) and bench/watch-compression.ts.
 */
import { spawnSync } from "node:child_process"

export interface WatchMemoryProbe {
  readonly port: number
  readonly connections: number
  readonly userPrefix: string
  readonly password: string
  readonly timeoutMs: number
}

/** The probe's JSON line (kB per connection of each layer), or `probe failed: <its stderr's tail>`. */
export const probeWatchMemory = (options: WatchMemoryProbe): string => {
  const probe = spawnSync(
    process.execPath,
    [
      "--expose-gc",
      "--import",
      "tsx",
      "bench/support/watchMemory.ts",
      String(options.port),
      String(options.connections),
      options.userPrefix,
      options.password
    ],
    { encoding: "utf8", env: { ...process.env, NODE_ENV: "test", LOG_LEVEL: "Warn" }, timeout: options.timeoutMs }
  )
  return probe.status === 0 ? probe.stdout.trim() : `probe failed: ${probe.stderr.slice(-500)}`
}
