/**
 * The production worker (src/main/worker.ts) as a child process, for the benchmarks that measure the
 * real thing (bench/sync.ts, bench/fairness.ts): started with the young-generation flags production
 * uses, JSON logs at Info, its metrics on a free port; ready once it logs "worker started". Stopped
 * gracefully (SIGTERM), SIGKILL after `killAfterMs`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"

/** A free TCP port on the loopback (for the worker's metrics). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

export interface WorkerProcessOptions {
  /** Added to this process's environment (the bench's database, Redis, settings). */
  readonly env: Record<string, string>
  /** Node flags after the production ones (--max-semi-space-size=4 --max-old-space-size=384). */
  readonly flags?: ReadonlyArray<string>
  /** How long to wait for "worker started" (default 120 s). */
  readonly startTimeoutMs?: number
}

export interface WorkerProcess {
  readonly child: ChildProcess
  /** WORKER_METRICS_PORT: GET http://127.0.0.1:<port>/metrics (Prometheus text). */
  readonly metricsPort: number
}

/** Starts the worker; resolves once it logged "worker started", rejects when it exits first or times out. */
export const startWorkerProcess = async (options: WorkerProcessOptions): Promise<WorkerProcess> => {
  const metricsPort = await freePort()
  // BENCH_WORKER_FLAGS: node flags for every worker a bench starts, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // (node refuses --cpu-prof in NODE_OPTIONS); each worker writes its profile when it stops
  const extraFlags = (process.env["BENCH_WORKER_FLAGS"] ?? "").split(" ").filter((flag) => flag !== "")
  const flags = ["--max-semi-space-size=4", "--max-old-space-size=384", ...(options.flags ?? []), ...extraFlags]
  const child = spawn(process.execPath, [...flags, "src/main/worker.ts"], {
    env: {
      ...process.env,
      ...options.env,
      LOG_FORMAT: "json",
      LOG_LEVEL: "Info",
      WORKER_METRICS_PORT: String(metricsPort)
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`worker did not start:\n${output}`)),
      options.startTimeoutMs ?? 120_000
    )
    const onData = (chunk: Buffer) => {
      // the tail is enough to find the line and to show why a start failed
      output = (output + chunk.toString("utf8")).slice(-20_000)
      if (output.includes('"message":"worker started')) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", () => {
      clearTimeout(timer)
      reject(new Error(`worker exited:\n${output}`))
    })
  })
  return { child, metricsPort }
}

/** Graceful stop (SIGTERM), SIGKILL after `killAfterMs` (default 30 s); resolves once it exited. */
export const stopWorkerProcess = (child: ChildProcess, killAfterMs = 30_000): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })
