/**
 * The real programs (src/main/api.ts, worker.ts) as child processes, for the ops tests and the
 * drills (scripts/drills): plain promises, so scripts can use them without a test runner.
 */
import { type ChildProcess, spawn } from "node:child_process"

export interface ProgramExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly at: number
}

export interface Program {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  /** Everything the process wrote to stdout and stderr so far. */
  readonly output: () => string
  /** The JSON log lines so far (lines that are not JSON are skipped). */
  readonly logLines: () => ReadonlyArray<Record<string, unknown>>
  readonly exited: Promise<ProgramExit>
  readonly running: () => boolean
  /** Sends the signal and waits for the exit (SIGKILL after `graceMillis`). */
  readonly stop: (signal?: NodeJS.Signals, graceMillis?: number) => Promise<ProgramExit>
}

import { freePort } from "../harness/freePort.ts"

export { freePort }

const parseLines = (text: string): Array<Record<string, unknown>> => {
  const lines: Array<Record<string, unknown>> = []
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue
    try {
      const parsed: unknown = JSON.parse(line)
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        lines.push(Object.fromEntries(Object.entries(parsed)))
      }
    } catch {
      // a partial line, or not ours
    }
  }
  return lines
}

export interface StartOptions {
  /** e.g. "src/main/api.ts" */
  readonly script: string
  readonly name?: string
  readonly env: Record<string, string>
  /** Resolves the start once the output satisfies this. */
  readonly ready: (output: string) => boolean
  readonly timeoutMillis?: number
  /** Echo the output to this process's stderr with a prefix (drills). */
  readonly echo?: boolean
  /** Node flags before `--import tsx` (e.g. the worker script's production heap flags). */
  readonly nodeArgs?: ReadonlyArray<string>
}

/** Starts `node --import tsx <script>` (Node 24 under npm) and waits until it is ready. */
export const startProgram = async (options: StartOptions): Promise<Program> => {
  const name = options.name ?? options.script
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--import", "tsx", options.script], {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const exited = new Promise<ProgramExit>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }))
  )
  const onData = (chunk: Buffer) => {
    const text = chunk.toString("utf8")
    output += text
    if (options.echo === true) {
      for (const line of text.split("\n")) if (line !== "") process.stderr.write(`  [${name}] ${line}\n`)
    }
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  const running = () => child.exitCode === null && child.signalCode === null
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMillis = 15_000) => {
    if (running()) {
      child.kill(signal)
      const timer = setTimeout(() => {
        if (running()) child.kill("SIGKILL")
      }, graceMillis)
      const exit = await exited
      clearTimeout(timer)
      return exit
    }
    return exited
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start in time:\n${output}`)),
        // a guard against a program that never starts, not a measure of start-up time: on a loaded
        // 2-core CI host (load ~15) an API took over 45 s to load its modules
        options.timeoutMillis ?? 120_000
      )
      const check = () => {
        if (options.ready(output)) {
          clearTimeout(timer)
          child.stdout?.off("data", check)
          child.stderr?.off("data", check)
          resolve()
        }
      }
      child.stdout?.on("data", check)
      child.stderr?.on("data", check)
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`${name} exited during start:\n${output}`))
      })
      check()
    })
  } catch (error) {
    await stop("SIGKILL")
    throw error
  }
  if (child.pid === undefined) throw new Error(`${name} has no pid`)
  return {
    name,
    child,
    pid: child.pid,
    output: () => output,
    logLines: () => parseLines(output),
    exited,
    running,
    stop
  }
}

/** Readiness is read from an Info line: keep Trace/Debug, raise anything quieter to Info. */
const readableLevel = (env: Record<string, string>): string => {
  const level = (env["LOG_LEVEL"] ?? "").toLowerCase()
  return level === "trace" || level === "debug" ? level : "info"
}

/** The API program on a free loopback port; resolves with its base URL. */
export const startApi = async (
  env: Record<string, string>,
  options: {
    echo?: boolean
    name?: string
    timeoutMillis?: number
    /** Another checkout's API (bench/webapp.ts's base in an A/B), e.g. "/work/wt/base/src/main/api.ts". */
    script?: string
  } = {}
) => {
  const port = await freePort()
  const program = await startProgram({
    script: options.script ?? "src/main/api.ts",
    name: options.name ?? "api",
    env: { LOG_FORMAT: "json", ...env, LOG_LEVEL: readableLevel(env), HOST: "127.0.0.1", PORT: String(port) },
    ready: (output) => output.includes(`Listening on http://127.0.0.1:${port}`),
    ...(options.echo === undefined ? {} : { echo: options.echo }),
    ...(options.timeoutMillis === undefined ? {} : { timeoutMillis: options.timeoutMillis })
  })
  return { program, port, base: `http://127.0.0.1:${port}` }
}

/** A worker program with its metrics server on a free loopback port. */
export const startWorker = async (
  env: Record<string, string>,
  options: { echo?: boolean; name?: string; nodeArgs?: ReadonlyArray<string>; timeoutMillis?: number } = {}
) => {
  const port = await freePort()
  const program = await startProgram({
    script: "src/main/worker.ts",
    name: options.name ?? "worker",
    env: {
      LOG_FORMAT: "json",
      ...env,
      LOG_LEVEL: readableLevel(env),
      WORKER_METRICS_PORT: String(port),
      HOST: "127.0.0.1"
    },
    ready: (output) => output.includes('"message":"worker started'),
    ...(options.echo === undefined ? {} : { echo: options.echo }),
    ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
    ...(options.timeoutMillis === undefined ? {} : { timeoutMillis: options.timeoutMillis })
  })
  return { program, metricsPort: port }
}
