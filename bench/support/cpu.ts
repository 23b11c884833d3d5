/**
 * CPU time used so far (ms) by this process, the Redis server and all PostgreSQL processes
 * (backends, WAL writer, ...), read from /proc and INFO: take one before and one after a
 * phase and divide the difference by the work done. Steadier than rates on a shared machine.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

export interface CpuSnapshot {
  readonly node: number
  readonly redis: number
  readonly postgres: number
}

/** CPU time (user + system, ms) in a /proc stat file; 0 when the process or thread is gone. */
const statCpu = (path: string): number => {
  try {
    const fields = fs.readFileSync(path, "utf8").split(") ")[1]?.split(" ") ?? []
    // after "pid (comm) ": state is field 3, utime 14, stime 15 (1-based) -> indexes 11 and 12 here
    return ((Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 1000) / 100
  } catch {
    return 0
  }
}

/** CPU time (ms) a process has used, threads included. */
export const processCpu = (pid: number): number => statCpu(`/proc/${pid}/stat`)

/** Fields of /proc/<pid>/stat after "pid (comm) " (state is index 0), or [] when it is gone. */
const statFields = (pid: number): Array<string> => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
  } catch {
    return []
  }
}

/**
 * CPU time (ms) of a server and every process it forked: its own, its live children's, and the
 * children it has reaped (cutime/cstime), so a Dovecot master counts the imap processes of
 * sessions that have ended.
 */
export const processTreeCpu = (pid: number): number => {
  const ticks = (fields: ReadonlyArray<string>, from: number, to: number) =>
    fields.slice(from, to + 1).reduce((sum, field) => sum + Number(field), 0)
  let total = ticks(statFields(pid), 11, 14)
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const fields = statFields(Number(entry))
    if (Number(fields[1]) === pid) total += ticks(fields, 11, 14)
  }
  return (total * 1000) / 100
}

/** The pid of the process whose command line contains `text`, if there is exactly one. */
export const pidByCommandLine = (text: string): number | undefined => {
  const found: Array<number> = []
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) found.push(Number(entry))
    } catch {
      // gone
    }
  }
  return found.length === 1 ? found[0] : undefined
}

/** CPU time per thread of a process (name#tid -> ms), e.g. to tell a main thread from worker threads. */
export const threadCpu = (pid: number): Map<string, number> => {
  const out = new Map<string, number>()
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      const name = fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim()
      out.set(`${name}#${tid}`, statCpu(`/proc/${pid}/task/${tid}/stat`))
    }
  } catch {
    // the process is gone
  }
  return out
}

const postgresCpu = (): number => {
  let total = 0
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres") total += processCpu(Number(entry))
    } catch {
      // gone
    }
  }
  return total
}

const redisCpu = (redisUrl: string): number => {
  const info = execFileSync("redis-cli", ["-u", redisUrl, "INFO", "cpu"], { encoding: "utf8" })
  const seconds = (key: string) => Number(new RegExp(`^${key}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0)
  return (seconds("used_cpu_user") + seconds("used_cpu_sys")) * 1000
}

export const cpuSnapshot = (redisUrl: string): CpuSnapshot => {
  const usage = process.cpuUsage()
  return { node: (usage.user + usage.system) / 1000, redis: redisCpu(redisUrl), postgres: postgresCpu() }
}

/** "node 0.21 + Redis 0.07 + PostgreSQL 0.05 = 0.33 ms per job" */
export const cpuPerUnit = (before: CpuSnapshot, after: CpuSnapshot, units: number, unit: string): string => {
  const node = (after.node - before.node) / units
  const redis = (after.redis - before.redis) / units
  const postgres = (after.postgres - before.postgres) / units
  return `node ${node.toFixed(3)} + Redis ${redis.toFixed(3)} + PostgreSQL ${postgres.toFixed(3)} = ${(node + redis + postgres).toFixed(3)} ms CPU per ${unit}`
}
