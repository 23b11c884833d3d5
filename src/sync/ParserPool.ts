/**
 * MIME parsing is the CPU bottleneck of a sync (about 1,200 messages/s per core), so the
 * `MimeParser` service parses in a pool of worker threads. A batch is split into chunks spread
 * over the workers. A worker that crashes or overruns its deadline is replaced; its chunk is
 * retried one message at a time, and a message that still fails gets a header-only result with
 * a warning, so `parseBatch` never fails. Threads start with the first batch and stop after
 * `idleMillis` without work: an idle worker process does not keep about 40 MB per thread. The
 * first `warmThreads` stay once started: a thread takes a few hundred milliseconds to start (0.9 s
 * on a loaded machine), which the one new message a watcher hears after a quiet minute would wait for.
 * The worker's pool (`layerConfig`) starts them with the pool, so that the first page of an account's
 * first sync after a restart does not wait for one either. A thread gets work only once it has
 * loaded its parser (it posts `{ready: true}`): the other threads a batch starts join when ready.
 */
import * as os from "node:os"
import { type ResourceLimits, Worker } from "node:worker_threads"
import { Config, Context, Effect, Layer } from "effect"
import {
  defaultMimeLimits,
  fallbackParsedMessage,
  type MimeLimits,
  mimeParserNames,
  type ParsedMessage,
  parseMessage
} from "./mime.ts"

export interface MimeParserOptions {
  /** Worker threads; default `os.availableParallelism()`. */
  readonly threads: number
  readonly limits: MimeLimits
  /** Messages per task sent to a worker (smaller spreads better, larger costs less messaging). */
  readonly chunkSize: number
  /** Worker entry module; tests substitute one that crashes or hangs. */
  readonly workerUrl: URL
  /**
   * Heap limits of each worker thread. Without them V8 lets a busy parser's heap grow about four
   * times its live size between full collections; with any old-generation limit below 1 GB it
   * grows by about 1.3 times, collects far more often and stays small. Measured (`npm run
   * bench:parser`, 2 threads): 45-50 MB instead of 65-115 MB of RSS growth, for 1.0 instead of
   * 0.74-0.91 ms of CPU per message. A message that needs more dies with its thread and gets the
   * fallback.
   */
  readonly resourceLimits: ResourceLimits
  /** A thread without work for this long stops (the next batch starts it again). */
  readonly idleMillis: number
  /** Threads that do not stop when idle, once started (the first ones a batch goes to). */
  readonly warmThreads: number
  /**
   * Start the warm threads with the pool rather than with the first batch. The worker does: an
   * account's first sync after the worker started would otherwise wait for a thread to load its
   * parser modules before the first page can be stored (a few hundred ms, more on a busy machine).
   */
  readonly startWarm: boolean
}

/** How long an idle parser thread lives: longer than the pauses between a sync's batches. */
export const defaultParserIdleMillis = 60_000

/** One thread stays: single new messages (the watchers' common case) never wait for a thread to start. */
export const defaultParserWarmThreads = 1

/** 128 MB old generation, 8 MB young generation per parser thread. */
export const defaultParserResourceLimits: ResourceLimits = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 8 }

export class MimeParser extends Context.Service<
  MimeParser,
  {
    /** Results in the order of `sources`. Never fails. */
    parseBatch(sources: ReadonlyArray<Uint8Array>): Effect.Effect<ReadonlyArray<ParsedMessage>>
  }
>()("mail-helper/MimeParser") {
  /** Worker-thread pool, terminated when the layer's scope closes. */
  static readonly layerPool = (options: Partial<MimeParserOptions> = {}) =>
    Layer.effect(MimeParser, makePoolParser(options))

  /**
   * Pool sized by MIME_PARSER_THREADS (default: available parallelism), parsing with the library
   * MAIL_PARSER names (postal-mime, the default, or mailparser; see mime.ts).
   */
  static readonly layerConfig = Layer.effect(
    MimeParser,
    Effect.gen(function* () {
      const threads = yield* Config.Int("MIME_PARSER_THREADS").pipe(Config.withDefault(os.availableParallelism()))
      const warmThreads = yield* Config.Int("MIME_PARSER_WARM_THREADS").pipe(
        Config.withDefault(defaultParserWarmThreads)
      )
      const parser = yield* Config.Literals(mimeParserNames, "MAIL_PARSER").pipe(
        Config.withDefault(defaultMimeLimits.parser)
      )
      return yield* makePoolParser({ threads, warmThreads, startWarm: true, limits: { ...defaultMimeLimits, parser } })
    })
  )

  /** Parses on the calling thread, one message after another: tests and tiny installs. */
  static readonly layerInProcess = (limits: MimeLimits = defaultMimeLimits) =>
    Layer.succeed(
      MimeParser,
      MimeParser.of({
        parseBatch: (sources) =>
          Effect.forEach(sources, (source) => Effect.promise(() => parseMessage(source, limits))).pipe(
            Effect.withSpan("mime.parse_batch", { attributes: { "mime.count": sources.length, "mime.threads": 0 } })
          )
      })
    )
}

const makePoolParser = (options: Partial<MimeParserOptions>) =>
  Effect.gen(function* () {
    const threads = Math.max(1, Math.floor(options.threads ?? os.availableParallelism()))
    const pool = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new WorkerPool(
            threads,
            options.limits ?? defaultMimeLimits,
            options.workerUrl ?? workerUrl,
            options.resourceLimits ?? defaultParserResourceLimits,
            options.idleMillis ?? defaultParserIdleMillis,
            options.warmThreads ?? defaultParserWarmThreads
          )
      ),
      (pool) => Effect.promise(() => pool.close())
    )
    if (options.startWarm === true) yield* Effect.promise(() => pool.warmUp())
    const chunkSize = Math.max(1, Math.floor(options.chunkSize ?? 16))
    return MimeParser.of({
      parseBatch: (sources) =>
        Effect.promise((signal) => pool.parse(sources, chunkSize, signal)).pipe(
          Effect.withSpan("mime.parse_batch", { attributes: { "mime.count": sources.length, "mime.threads": threads } })
        )
    })
  })

// ---------------------------------------------------------------------------------------------

interface Task {
  readonly id: number
  readonly sources: ReadonlyArray<Uint8Array>
  /** Retried message by message after a crash or timeout; a single message is not retried. */
  readonly retrySingly: boolean
  readonly done: (results: ReadonlyArray<ParsedMessage>) => void
  readonly signal: AbortSignal | undefined
}

interface Slot {
  /** null until a task needs it, and again after it idled out or died */
  worker: Worker | null
  /** The thread has loaded its parser (it said so): only then does it get work. */
  ready: boolean
  task: Task | null
  timer: ReturnType<typeof setTimeout> | null
  idleTimer: ReturnType<typeof setTimeout> | null
  lastError: string | null
}

/** What a parser thread posts once its modules are loaded (mimeWorker.ts). */
const isReadyMessage = (value: unknown): boolean =>
  typeof value === "object" && value !== null && "ready" in value && value.ready === true

const isResultMessage = (value: unknown): value is { readonly id: number; readonly results: Array<ParsedMessage> } =>
  typeof value === "object" &&
  value !== null &&
  "id" in value &&
  typeof value.id === "number" &&
  "results" in value &&
  Array.isArray(value.results)

/** A copy that owns exactly its bytes, so transferring it detaches nothing shared (Buffer pools). */
const ownedCopy = (source: Uint8Array): Uint8Array<ArrayBuffer> => {
  const copy = new Uint8Array(source.byteLength)
  copy.set(source)
  return copy
}

const workerUrl = new URL("./mimeWorker.ts", import.meta.url)

/**
 * What a warm thread parses before the pool is ready: mail shaped like a mailbox's (plain, HTML
 * alternative with quoted-printable, a base64 attachment, a Latin-1 body, encoded headers), each a
 * few times. A thread's first messages run in V8's interpreter: the first page of an account's first
 * sync took 0.73 s of CPU for 200 messages on a fresh thread against 0.25-0.34 s once the parser's
 * code was compiled (bench/sync.ts --first-page); this costs about 0.1-0.25 s of CPU at start instead.
 */
export const warmUpMessages: ReadonlyArray<Uint8Array> = (() => {
  const lorem =
    "Hallo Team, anbei der Bericht f=C3=BCr das Quartal. Bitte pr=C3=BCft die Zahlen bis Freitag und gebt mir kurz Bescheid. "
  const html = (n: number) =>
    `<html><body><p>Hello <b>world</b> ${n}</p><table><tr><td><a href=3D"https://example.com/${n}">link</a></td></tr></table><img src=3D"https://example.com/p.png"></body></html>`
  const headers = (n: number, type: string) =>
    `From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen${n}@example.com>\r\nTo: team@example.org, "B" <b@example.org>\r\nCc: c@example.net\r\n` +
    `Subject: =?utf-8?b?${Buffer.from(`Bericht Nr. ${n} – Übersicht`).toString("base64")}?=\r\nDate: Mon, 1 Jan 2024 10:00:00 +0100\r\n` +
    `Message-ID: <warm-${n}@example.com>\r\nIn-Reply-To: <warm-${n - 1}@example.com>\r\nReferences: <warm-0@example.com> <warm-${n - 1}@example.com>\r\n` +
    `List-Unsubscribe: <mailto:u@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: ${type}\r\n`
  const messages: Array<string> = []
  for (let n = 1; n <= 8; n++) {
    const body = Array.from({ length: 12 }, () => lorem).join("=\r\n")
    messages.push(
      `${headers(n, 'multipart/mixed; boundary="m"')}\r\n--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n` +
        `--a\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${body}\r\n` +
        `--a\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${html(n)}\r\n--a--\r\n` +
        `--m\r\nContent-Type: application/pdf; name="r${n}.pdf"\r\nContent-Disposition: attachment; filename="r${n}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
        `${Buffer.alloc(3_000, n).toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n--m--\r\n`,
      `${headers(n + 100, "text/plain; charset=iso-8859-1")}Content-Transfer-Encoding: 8bit\r\n\r\n` +
        `${"Gr\u00fc\u00dfe aus M\u00fcnchen, bis morgen.\r\n".repeat(40)}`
    )
  }
  return [...messages, ...messages, ...messages].map((text) => Buffer.from(text, "latin1"))
})()

/**
 * The parser threads' Node flags: none when the process runs under a TypeScript loader (tsx),
 * inherited otherwise. The worker entry is erasable TypeScript that Node 24 runs by itself;
 * inherited, tsx's hooks sat in every module resolution of the parser threads (mailparser and
 * iconv resolve modules lazily). An explicit list cannot simply be filtered: Node refuses V8 and
 * per-process flags (--expose-gc, --max-old-space-size) in a worker's execArgv.
 */
export const workerExecArgv = (execArgv: ReadonlyArray<string>): Array<string> | undefined =>
  execArgv.some((arg) => /(^|[\\/=])tsx([\\/]|$)/.test(arg)) ? [] : undefined

export class WorkerPool {
  private readonly slots: Array<Slot> = []
  private readonly queue: Array<Task> = []
  private nextId = 1
  private closed = false

  readonly size: number
  private readonly limits: MimeLimits
  private readonly entry: URL
  private readonly resourceLimits: ResourceLimits
  private readonly idleMillis: number
  private readonly warmThreads: number

  constructor(
    size: number,
    limits: MimeLimits,
    entry: URL = workerUrl,
    resourceLimits: ResourceLimits = defaultParserResourceLimits,
    idleMillis: number = defaultParserIdleMillis,
    warmThreads = 0
  ) {
    this.size = size
    this.limits = limits
    this.entry = entry
    this.resourceLimits = resourceLimits
    this.idleMillis = idleMillis
    this.warmThreads = Math.max(0, Math.floor(warmThreads))
    for (let i = 0; i < size; i++)
      this.slots.push({ worker: null, ready: false, task: null, timer: null, idleTimer: null, lastError: null })
  }

  /** Starts the warm threads that are not running yet; they wait for work and never idle out. */
  startWarmThreads(): void {
    if (this.closed) return
    for (const slot of this.slots.slice(0, this.warmThreads)) if (slot.worker === null) this.start(slot)
  }

  /**
   * Starts the warm threads and resolves once the first has loaded its parser and parsed a tiny
   * message: the pool is then ready, and what loading costs (time, memory) is spent here rather
   * than inside the first sync.
   */
  async warmUp(): Promise<void> {
    this.startWarmThreads()
    if (this.warmThreads === 0 || this.closed) return
    // one chunk: it goes to the first warm thread and starts no other
    await new Promise<void>((resolve) => {
      this.queue.push({
        id: this.nextId++,
        sources: warmUpMessages,
        retrySingly: false,
        signal: undefined,
        done: () => resolve()
      })
      this.dispatch()
    })
  }

  /** Threads running now (for tests and diagnostics). */
  get liveThreads(): number {
    return this.slots.filter((slot) => slot.worker !== null).length
  }

  private start(slot: Slot): Worker {
    const execArgv = workerExecArgv(process.execArgv)
    const worker = new Worker(this.entry, {
      workerData: { limits: this.limits },
      resourceLimits: this.resourceLimits,
      ...(execArgv === undefined ? {} : { execArgv })
    })
    slot.worker = worker
    slot.ready = false
    slot.lastError = null
    // idle workers must not keep the process alive
    worker.unref()
    worker.on("message", (message: unknown) => {
      if (slot.worker === worker && !slot.ready && isReadyMessage(message)) {
        slot.ready = true
        this.dispatch()
        // nothing left for it: it idles out like any thread without work
        if (slot.task === null) this.release(slot)
        return
      }
      if (!isResultMessage(message) || slot.task === null || slot.task.id !== message.id) return
      const task = slot.task
      this.release(slot)
      if (message.results.length === task.sources.length) task.done(message.results)
      else this.fail(task, "parser worker returned a wrong number of results")
      this.dispatch()
    })
    worker.on("error", (error: Error) => {
      slot.lastError = error.message
    })
    worker.on("messageerror", (error: Error) => {
      slot.lastError = error.message
    })
    worker.on("exit", () => {
      // a thread that idled out (or a pool that closed) ends quietly
      if (this.closed || slot.worker !== worker) return
      const task = slot.task
      const reason = `parser worker died${slot.lastError === null ? "" : `: ${slot.lastError}`}`
      const diedStarting = !slot.ready
      this.release(slot)
      slot.worker = null
      slot.ready = false
      if (task !== null) this.fail(task, reason)
      // a thread that dies before it could take work costs the next queued chunk its turn (retried
      // message by message, then the fallback), so a parser that cannot load never loops
      else if (diedStarting) {
        const next = this.queue.shift()
        if (next !== undefined) this.fail(next, reason)
      }
      this.dispatch()
    })
    return worker
  }

  private release(slot: Slot): void {
    if (slot.timer !== null) clearTimeout(slot.timer)
    slot.timer = null
    slot.task = null
    slot.worker?.unref()
    if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
    slot.idleTimer = null
    // the first slots take the work first (dispatch goes in order) and stay warm
    if (this.slots.indexOf(slot) < this.warmThreads) return
    slot.idleTimer = setTimeout(() => this.retire(slot), this.idleMillis)
    slot.idleTimer.unref()
  }

  private retire(slot: Slot): void {
    slot.idleTimer = null
    const worker = slot.worker
    if (slot.task !== null || worker === null) return
    slot.worker = null
    void worker.terminate()
  }

  /** A chunk that broke a worker is retried message by message; a single message gets a fallback. */
  private fail(task: Task, reason: string): void {
    if (task.retrySingly && task.sources.length > 1) {
      const results: Array<ParsedMessage> = task.sources.map((source) => fallbackParsedMessage(source, [reason]))
      let remaining = task.sources.length
      task.sources.forEach((source, index) => {
        this.queue.unshift({
          id: this.nextId++,
          sources: [source],
          retrySingly: false,
          signal: task.signal,
          done: ([result]) => {
            if (result !== undefined) results[index] = result
            if (--remaining === 0) task.done(results)
          }
        })
      })
      return
    }
    task.done(task.sources.map((source) => fallbackParsedMessage(source, [reason])))
  }

  /**
   * Hands queued chunks to the threads that are ready. A thread that is not running is started when
   * chunks wait that no starting thread will take, and takes work once it has loaded its parser: a
   * batch never waits for a thread to start while another one can parse (the first page's last
   * chunk waited for a thread that was still loading its modules: 0.6-2 s of CPU on a busy 2-core
   * machine).
   */
  private dispatch(): void {
    // a batch whose caller was interrupted is not worth parsing
    while (this.queue[0]?.signal?.aborted === true) this.queue.shift()
    for (const slot of this.slots) {
      if (slot.task !== null || !slot.ready || slot.worker === null) continue
      const worker = slot.worker
      let task = this.queue.shift()
      while (task !== undefined && task.signal?.aborted === true) task = this.queue.shift()
      if (task === undefined) break
      slot.task = task
      if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
      slot.idleTimer = null
      worker.ref()
      const sources = task.sources.map(ownedCopy)
      // generous: a healthy worker parses a message in about a millisecond
      const deadline = this.limits.timeoutMs * 2 + 1_000 * sources.length
      slot.timer = setTimeout(() => {
        slot.lastError = `no answer within ${deadline} ms`
        void worker.terminate()
      }, deadline)
      worker.postMessage(
        { id: task.id, sources },
        sources.map((source) => source.buffer)
      )
    }
    // chunks still queued: a thread is started for each one that no starting thread will take
    let starting = this.slots.filter((slot) => slot.worker !== null && !slot.ready).length
    for (const slot of this.slots) {
      if (this.queue.length <= starting) break
      if (slot.worker !== null) continue
      this.start(slot)
      starting++
    }
    // while work waits for them, starting threads keep the process up (then dispatch or release)
    for (const slot of this.slots) if (slot.worker !== null && !slot.ready && this.queue.length > 0) slot.worker.ref()
  }

  parse(
    sources: ReadonlyArray<Uint8Array>,
    chunkSize: number,
    signal?: AbortSignal
  ): Promise<ReadonlyArray<ParsedMessage>> {
    if (this.closed) return Promise.resolve(sources.map((s) => fallbackParsedMessage(s, ["parser pool is closed"])))
    if (sources.length === 0) return Promise.resolve([])
    // spread one batch over every worker, but keep chunks small enough to balance
    const size = Math.max(1, Math.min(chunkSize, Math.ceil(sources.length / this.size)))
    return new Promise((resolve) => {
      const results: Array<ParsedMessage> = new Array(sources.length)
      let remaining = 0
      for (let start = 0; start < sources.length; start += size) {
        const chunk = sources.slice(start, start + size)
        remaining++
        this.queue.push({
          id: this.nextId++,
          sources: chunk,
          retrySingly: true,
          signal,
          done: (parsed) => {
            parsed.forEach((result, offset) => {
              results[start + offset] = result
            })
            if (--remaining === 0) resolve(results)
          }
        })
      }
      this.dispatch()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const closing = (task: Task) => task.done(task.sources.map((s) => fallbackParsedMessage(s, ["parser pool closed"])))
    for (const task of this.queue.splice(0)) closing(task)
    await Promise.all(
      this.slots.map(async (slot) => {
        const task = slot.task
        this.release(slot)
        if (slot.idleTimer !== null) clearTimeout(slot.idleTimer)
        if (task !== null) closing(task)
        const worker = slot.worker
        slot.worker = null
        if (worker !== null) await worker.terminate()
      })
    )
  }
}
