/**
 * CPU time used so far (ms) by this process, the Redis server and all PostgreSQL processes
 * (backends, WAL writer, ...), read from /proc and INFO: take one before and one after a
 * phase and divide the difference by the work done. Steadier than rates on a shared machine.
 * Also a process's resident memory, from the same /proc.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

export interface CpuSnapshot {
  readonly node: number
  readonly redis: number
  readonly postgres: number
}

/** Fields of a /proc stat file after "pid (comm) " (state is index 0), or [] when it is gone. */
const statFields = (path: string): Array<string> => {
  try {
    return fs.readFileSync(path, "utf8").split(") ")[1]?.split(" ") ?? []
  } catch {
    return []
  }
}

/** Clock ticks (1/100 s) of fields `from`..`to`, as ms: utime 11, stime 12, cutime 13, cstime 14. */
const ticksMs = (fields: ReadonlyArray<string>, from: number, to: number): number =>
  (fields.slice(from, to + 1).reduce((sum, field) => sum + Number(field), 0) * 1000) / 100

/** CPU time (user + system, ms) in a /proc stat file; 0 when the process or thread is gone. */
const statCpu = (path: string): number => ticksMs(statFields(path), 11, 12)

/** Every process id in /proc. */
const processIds = (): Array<number> =>
  fs
    .readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)

/** CPU time (ms) a process has used, threads included. */
export const processCpu = (pid: number): number => statCpu(`/proc/${pid}/stat`)

/**
 * CPU time (ms) of a server and every process it forked: its own, its live children's, and the
 * children it has reaped (cutime/cstime), so a Dovecot master counts the imap processes of
 * sessions that have ended.
 */
export const processTreeCpu = (pid: number): number => {
  let total = ticksMs(statFields(`/proc/${pid}/stat`), 11, 14)
  for (const child of processIds()) {
    const fields = statFields(`/proc/${child}/stat`)
    if (Number(fields[1]) === pid) total += ticksMs(fields, 11, 14)
  }
  return total
}

/** The pid of the process whose command line contains `text`, if there is exactly one. */
export const pidByCommandLine = (text: string): number | undefined => {
  const found = processIds().filter((pid) => {
    if (pid === process.pid) return false
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(text)
    } catch {
      return false // gone
    }
  })
  return found.length === 1 ? found[0] : undefined
}

/** Peak (VmHWM) and current (VmRSS) resident set of a process, in kB. */
export const memoryOf = (pid: number): { readonly peak: number; readonly current: number } => {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8")
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0)
  return { peak: kb("VmHWM"), current: kb("VmRSS") }
}

/**
 * Where a process's resident memory is (MB), from its /proc smaps, by the shape of each mapping:
 * V8 heap pages (256 KB anonymous mappings, large objects excepted), glibc malloc (the main
 * arena's `[heap]`, and thread arenas: 64 MB-aligned anonymous heaps), mapped files (the binary
 * and its libraries) and the rest (stacks, large V8 objects, other mmaps). An estimate by shape,
 * to tell a heap that did not shrink from an allocator that kept freed memory.
 */
export const memoryBreakdown = (
  pid: number
): { readonly v8Pages: number; readonly malloc: number; readonly files: number; readonly other: number } => {
  const totals = { v8Pages: 0, malloc: 0, files: 0, other: 0 }
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps`, "utf8")
  } catch {
    return totals // gone
  }
  let kind: keyof typeof totals = "other"
  for (const line of text.split("\n")) {
    const mapping = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (mapping !== null) {
      const start = BigInt(`0x${mapping[1]}`)
      const sizeKb = Number((BigInt(`0x${mapping[2]}`) - start) / 1024n)
      const name = mapping[4] ?? ""
      const writable = (mapping[3] ?? "").startsWith("rw")
      kind =
        name === "[heap]" || (name === "" && writable && start % (64n << 20n) === 0n)
          ? "malloc"
          : name.startsWith("/")
            ? "files"
            : name === "" && sizeKb === 256
              ? "v8Pages"
              : "other"
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) totals[kind] += Number(rss[1]) / 1024
  }
  return {
    v8Pages: Math.round(totals.v8Pages),
    malloc: Math.round(totals.malloc),
    files: Math.round(totals.files),
    other: Math.round(totals.other)
  }
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
  for (const pid of processIds()) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "postgres") total += processCpu(pid)
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

/**
 * CPU time (ms) the whole machine has been busy (every core, every process: /proc/stat's user, nice,
 * system, irq, softirq and steal) and its core count: on a quiet machine, what one run cost all of
 * its processes together (worker, PostgreSQL, Redis, Dovecot, the bench).
 */
export const machineBusy = (): { readonly ms: number; readonly cores: number } => {
  const fields = (fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields
  const cores = fs
    .readFileSync("/proc/stat", "utf8")
    .split("\n")
    .filter((line) => /^cpu\d+ /.test(line)).length
  return { ms: ((user + nice + system + irq + softirq + steal) * 1000) / 100, cores }
}

/** CPU time (ms) used so far by every PostgreSQL process. */
export const postgresCpuMs = (): number => postgresCpu()

/** "node 0.21 + Redis 0.07 + PostgreSQL 0.05 = 0.33 ms per job" */
export const cpuPerUnit = (before: CpuSnapshot, after: CpuSnapshot, units: number, unit: string): string => {
  const node = (after.node - before.node) / units
  const redis = (after.redis - before.redis) / units
  const postgres = (after.postgres - before.postgres) / units
  return `node ${node.toFixed(3)} + Redis ${redis.toFixed(3)} + PostgreSQL ${postgres.toFixed(3)} = ${(node + redis + postgres).toFixed(3)} ms CPU per ${unit}`
}
