import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process"
import { createServer, type Server, type Socket, connect } from "node:net"
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import { expect } from "vitest"
import { psqlValue } from "../../harness/postgres.ts"
import { appendTestLog } from "../../harness/testLogs.ts"
import type { TestEnv } from "../../harness/TestEnv.ts"

/** One line a lease worker reported: its whole owned set at `at` (its own Date.now()). */
export interface OwnedReport {
  readonly at: number
  readonly worker: string
  readonly accounts: ReadonlyMap<string, number>
}

export interface LeaseProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly reports: Array<OwnedReport>
  /** The worker id it holds leases under (known from its first report). */
  readonly workerId: () => string
  /** The last reported set. */
  readonly owned: () => ReadonlyMap<string, number>
  readonly exited: Promise<{ readonly at: number; readonly signal: NodeJS.Signals | null }>
  readonly exitedAt: () => number | undefined
}

/** `count` accounts of one new user, straight into the test database (as the owner). */
export const createAccounts = (testEnv: TestEnv, count: number): ReadonlyArray<string> => {
  const owner = crypto.randomUUID()
  psqlValue(
    testEnv.databaseUrl,
    `INSERT INTO users (id, email, password_hash) VALUES ('${owner}', '${owner}@leases.test', '!')`
  )
  return psqlValue(
    testEnv.databaseUrl,
    `INSERT INTO mail_accounts (user_id, label, host, port, security, username, password_sealed)
     SELECT '${owner}', 'lease ' || g, 'imap.example.test', 993, 'tls', 'lease-' || g, 'sealed'
     FROM generate_series(1, ${count}) g RETURNING id`
  )
    .split("\n")
    .filter((line) => line.length > 0)
}

const OwnedLine = (value: unknown): OwnedReport | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const line: Record<string, unknown> = { ...value }
  if (line["type"] !== "owned" || typeof line["at"] !== "number" || typeof line["worker"] !== "string") return undefined
  const accounts = new Map<string, number>()
  for (const pair of Array.isArray(line["accounts"]) ? line["accounts"] : []) {
    if (Array.isArray(pair) && typeof pair[0] === "string" && typeof pair[1] === "number")
      accounts.set(pair[0], pair[1])
  }
  return { at: line["at"], worker: line["worker"], accounts }
}

/**
 * Starts test/watch/support/leaseWorker.ts (optionally inside a network namespace) and waits for its
 * first report. The scope SIGKILLs it if the test has not ended it.
 */
export const spawnLeaseWorker = (
  name: string,
  testEnv: TestEnv,
  options: { readonly env?: Record<string, string>; readonly netns?: string } = {}
) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<LeaseProcess> => {
      const node = [process.execPath, "--import", "tsx", "test/watch/support/leaseWorker.ts"]
      const [command, ...args] = options.netns === undefined ? node : ["ip", "netns", "exec", options.netns, ...node]
      const child = spawn(command ?? "", args, {
        env: { ...process.env, ...testEnv.env, LOG_LEVEL: "Info", ...options.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const reports: Array<OwnedReport> = []
      let exitedAt: number | undefined
      const testFile = expect.getState().testPath
      let pending = ""
      let output = ""
      child.stdout?.on("data", (chunk: Buffer) => {
        const text = chunk.toString("utf8")
        output += text
        if (testFile !== undefined) appendTestLog(testFile, `[${name} ${child.pid}] ${text}`)
        pending += text
        const lines = pending.split("\n")
        pending = lines.pop() ?? ""
        for (const line of lines) {
          if (!line.startsWith('{"type":"owned"')) continue
          const report = OwnedLine(JSON.parse(line))
          if (report !== undefined) reports.push(report)
        }
      })
      child.stderr?.on("data", (chunk: Buffer) => {
        output += chunk.toString("utf8")
        if (testFile !== undefined) appendTestLog(testFile, `[${name} ${child.pid}] ${chunk.toString("utf8")}`)
      })
      const exited = new Promise<{ at: number; signal: NodeJS.Signals | null }>((resolve) =>
        child.once("exit", (_code, signal) => {
          exitedAt = Date.now()
          resolve({ at: exitedAt, signal })
        })
      )
      await waitFor(() => reports.length > 0 || exitedAt !== undefined, 60_000, `${name} did not start`)
      if (reports.length === 0) throw new Error(`${name} exited during start:\n${output}`)
      return {
        name,
        child,
        reports,
        workerId: () => reports[0]?.worker ?? "",
        owned: () => reports.at(-1)?.accounts ?? new Map(),
        exited,
        exitedAt: () => exitedAt
      }
    }),
    (worker) =>
      Effect.promise(async () => {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL")
        await worker.exited
      })
  )

/** Polls until the condition holds (every 20 ms), failing with the message after `timeoutMillis`. */
export const waitFor = async (condition: () => boolean, timeoutMillis: number, message: string) => {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMillis) throw new Error(`timed out: ${message}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

export interface Interval {
  readonly process: string
  readonly account: string
  readonly fence: number
  readonly from: number
  /** When it was dropped, or the process's exit (Infinity while it still runs and holds it). */
  readonly to: number
}

/** Every stretch during which a process claimed an account, from its reports. */
export const intervalsOf = (
  processes: ReadonlyArray<Pick<LeaseProcess, "name" | "reports" | "exitedAt">>
): ReadonlyArray<Interval> => {
  const intervals: Array<Interval> = []
  for (const process of processes) {
    const open = new Map<string, { fence: number; from: number }>()
    for (const report of process.reports) {
      for (const [account, start] of open) {
        if (report.accounts.get(account) !== start.fence) {
          intervals.push({ process: process.name, account, fence: start.fence, from: start.from, to: report.at })
          open.delete(account)
        }
      }
      for (const [account, fence] of report.accounts) {
        if (!open.has(account)) open.set(account, { fence, from: report.at })
      }
    }
    const end = process.exitedAt() ?? Number.POSITIVE_INFINITY
    for (const [account, start] of open) {
      intervals.push({ process: process.name, account, fence: start.fence, from: start.from, to: end })
    }
  }
  return intervals
}

/** Pairs of intervals in which two processes claimed the same account at the same time. */
export const doubleOwnership = (intervals: ReadonlyArray<Interval>) => {
  const clashes: Array<readonly [Interval, Interval]> = []
  for (const a of intervals) {
    for (const b of intervals) {
      if (a.account === b.account && a.process < b.process && a.from < b.to && b.from < a.to) clashes.push([a, b])
    }
  }
  return clashes
}

/** Accounts whose fences did not grow strictly with each new ownership (in time order). */
export const fencesNotGrowing = (intervals: ReadonlyArray<Interval>) => {
  const byAccount = new Map<string, Array<Interval>>()
  for (const interval of intervals)
    byAccount.set(interval.account, [...(byAccount.get(interval.account) ?? []), interval])
  const bad: Array<string> = []
  for (const [account, list] of byAccount) {
    const sorted = [...list].sort((a, b) => a.from - b.from)
    for (let i = 1; i < sorted.length; i++) {
      if ((sorted[i]?.fence ?? 0) <= (sorted[i - 1]?.fence ?? 0)) bad.push(account)
    }
  }
  return bad
}

/** The leases as Redis has them now: account -> holder and fence. */
export const redisLeases = async (redisUrl: string, prefix: string) => {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 })
  try {
    const keys = await redis.keys(`${prefix}:watch:lease:*`)
    const leases = new Map<string, { readonly holder: string; readonly fence: number }>()
    for (const key of keys) {
      const [holder, fence] = await redis.hmget(key, "holder", "fence")
      if (holder !== null && holder !== undefined) {
        leases.set(key.slice(`${prefix}:watch:lease:`.length), { holder, fence: Number(fence) })
      }
    }
    return leases
  } finally {
    redis.disconnect()
  }
}

/**
 * A TCP forwarder from `listenHost:listenPort` to `target`. `cut()` turns it into a black hole, the
 * way a network partition looks to the client: connections stay open, bytes go nowhere, new
 * connections are accepted and hang. `heal()` drops the connections of the partition (their streams
 * lost bytes) and forwards again.
 */
export const startForwarder = async (listenHost: string, target: { host: string; port: number }) => {
  let cut = false
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    sockets.add(client)
    client.on("error", () => {})
    client.on("close", () => sockets.delete(client))
    if (cut) return // accepted, never answered
    const upstream = connect(target.port, target.host)
    sockets.add(upstream)
    upstream.on("error", () => client.destroy())
    upstream.on("close", () => {
      sockets.delete(upstream)
      if (!cut) client.destroy()
    })
    client.on("close", () => {
      if (!cut) upstream.destroy()
    })
    client.on("data", (data) => {
      if (!cut) upstream.write(data)
    })
    upstream.on("data", (data) => {
      if (!cut) client.write(data)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, listenHost, () => resolve())
  })
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  return {
    port,
    cut: () => {
      cut = true
    },
    heal: () => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      cut = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/**
 * A network namespace joined to the host by a veth pair (host 10.231.N.1, namespace 10.231.N.2,
 * nothing else): a process in it reaches only what listens on 10.231.N.1.
 */
export const makeNetns = Effect.acquireRelease(
  Effect.sync(() => {
    const n = Math.floor(Math.random() * 250) + 1
    const tag = Math.random().toString(36).slice(2, 7)
    const name = `mhl${tag}`
    const hostIf = `mhlh${tag}`
    const nsIf = `mhln${tag}`
    const ip = (...args: Array<string>) => execFileSync("ip", args, { stdio: "pipe" })
    ip("netns", "add", name)
    ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
    ip("link", "set", nsIf, "netns", name)
    ip("addr", "add", `10.231.${n}.1/30`, "dev", hostIf)
    ip("link", "set", hostIf, "up")
    ip("netns", "exec", name, "ip", "addr", "add", `10.231.${n}.2/30`, "dev", nsIf)
    ip("netns", "exec", name, "ip", "link", "set", nsIf, "up")
    ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
    return { name, hostIf, hostAddress: `10.231.${n}.1` }
  }),
  (netns) =>
    Effect.sync(() => {
      // deleting the namespace removes its veth end, and with it the host's
      const result = spawnSync("ip", ["netns", "del", netns.name], { encoding: "utf8" })
      if (result.status !== 0) console.warn(`ip netns del ${netns.name}: ${result.stderr}`)
    })
)
