import { Context, Effect, Layer, Semaphore } from "effect"
import type { SqlError } from "effect/sql"
import { packQ8, unpackQ8 } from "../analysis/embeddingCodec.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { SearchConfig } from "./SearchConfig.ts"
import { SearchStore } from "./SearchStore.ts"

/**
 * The in-process vector index behind semantic search (pgvector is not
 * assumed): per user and embedding model, every vector of the user as int8
 * codes in one contiguous Int8Array, scored by a full scan (no approximate
 * index: every vector is looked at). The scan's best candidates are then
 * re-scored by the caller with the stored float vectors.
 *
 * Freshness: every `embeddings` row carries a change number `seq`, drawn
 * after the writer took the user's advisory lock, so for one user numbers
 * become visible in order. Before each use the index asks for the user's
 * highest number (an index probe) and loads only the rows above what it
 * holds; a re-embedded message comes back with a new number and replaces its
 * slot. Deleted messages are noticed when the caller cannot find a
 * candidate, which is then dropped; every SEARCH_VECTOR_RELOAD_MINUTES the
 * index is rebuilt from scratch (in the background of a query, swapped in
 * when complete), which also reclaims dropped slots. Indexes live within SEARCH_VECTOR_CACHE_MB,
 * least recently used first out. Each API process holds its own.
 */

export interface Candidate {
  readonly id: string
  /** Approximate cosine similarity (int8 codes against the float query). */
  readonly score: number
}

export interface IndexStats {
  readonly users: number
  readonly vectors: number
  readonly bytes: number
  readonly entries: ReadonlyArray<{ readonly userId: string; readonly model: string; readonly vectors: number }>
}

const ID_BYTES = 100

/** One index's vectors; replaced as a whole on a rebuild, so a scan never sees half of one. */
interface Data {
  dimension: number
  count: number
  codes: Int8Array
  scales: Float32Array
  ids: Array<string>
  slotOf: Map<string, number>
  /** Highest change number loaded (bigint in the database). */
  watermark: bigint
}

interface Entry {
  readonly key: string
  readonly userId: UserId
  readonly model: string
  readonly lock: Semaphore.Semaphore
  data: Data
  loadedAt: number
  lastUsed: number
  rebuilding: boolean
}

const emptyData = (): Data => ({
  dimension: 0,
  count: 0,
  codes: new Int8Array(0),
  scales: new Float32Array(0),
  ids: [],
  slotOf: new Map(),
  watermark: 0n
})

const bytesOf = (data: Data): number => data.codes.byteLength + data.scales.byteLength + data.count * ID_BYTES

const ensureCapacity = (data: Data, needed: number) => {
  const capacity = data.scales.length
  if (needed <= capacity) return
  const next = Math.max(needed, Math.ceil(capacity * 1.5), 1_024)
  const codes = new Int8Array(next * data.dimension)
  codes.set(data.codes.subarray(0, data.count * data.dimension))
  const scales = new Float32Array(next)
  scales.set(data.scales.subarray(0, data.count))
  data.codes = codes
  data.scales = scales
}

/** Adds or replaces one message's vector. */
const put = (data: Data, id: string, scale: number, codes: Int8Array) => {
  if (data.dimension === 0) data.dimension = codes.length
  if (codes.length !== data.dimension) return
  let slot = data.slotOf.get(id)
  if (slot === undefined) {
    ensureCapacity(data, data.count + 1)
    slot = data.count++
    data.slotOf.set(id, slot)
    data.ids[slot] = id
  }
  data.codes.set(codes, slot * data.dimension)
  data.scales[slot] = scale
}

/**
 * The `k` best slots by approximate score (descending). A bounded min-heap:
 * O(n·d) for the scores plus O(n log k) for the heap.
 */
export const scanTopK = (
  codes: Int8Array,
  scales: Float32Array,
  count: number,
  dimension: number,
  query: Float32Array,
  k: number,
  skip: number
): Array<{ readonly slot: number; readonly score: number }> => {
  const heapScores = new Float64Array(k)
  const heapSlots = new Int32Array(k)
  let size = 0
  const siftDown = (start: number) => {
    let i = start
    while (true) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < size && (heapScores[l] ?? 0) < (heapScores[m] ?? 0)) m = l
      if (r < size && (heapScores[r] ?? 0) < (heapScores[m] ?? 0)) m = r
      if (m === i) return
      const s = heapScores[i] ?? 0
      const t = heapSlots[i] ?? 0
      heapScores[i] = heapScores[m] ?? 0
      heapSlots[i] = heapSlots[m] ?? 0
      heapScores[m] = s
      heapSlots[m] = t
      i = m
    }
  }
  const siftUp = (start: number) => {
    let i = start
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((heapScores[p] ?? 0) <= (heapScores[i] ?? 0)) return
      const s = heapScores[i] ?? 0
      const t = heapSlots[i] ?? 0
      heapScores[i] = heapScores[p] ?? 0
      heapSlots[i] = heapSlots[p] ?? 0
      heapScores[p] = s
      heapSlots[p] = t
      i = p
    }
  }
  if (k <= 0) return []
  // Only the query's non-zero dimensions contribute: a short query (hashing embeddings) has few,
  // so the exact dot product costs a fraction of the dense one.
  const nonZero: Array<number> = []
  for (let j = 0; j < dimension; j++) if ((query[j] ?? 0) !== 0) nonZero.push(j)
  const sparse = nonZero.length * 2 < dimension
  const dims = Int32Array.from(nonZero)
  const weights = Float32Array.from(nonZero.map((j) => query[j] ?? 0))
  const nz = dims.length
  const d4 = dimension - (dimension % 4)
  for (let slot = 0; slot < count; slot++) {
    if (slot === skip) continue
    const base = slot * dimension
    let s0 = 0
    let s1 = 0
    let s2 = 0
    let s3 = 0
    if (sparse) {
      for (let i = 0; i < nz; i++) s0 += (weights[i] ?? 0) * (codes[base + (dims[i] ?? 0)] ?? 0)
    } else {
      let j = 0
      for (; j < d4; j += 4) {
        s0 += (query[j] ?? 0) * (codes[base + j] ?? 0)
        s1 += (query[j + 1] ?? 0) * (codes[base + j + 1] ?? 0)
        s2 += (query[j + 2] ?? 0) * (codes[base + j + 2] ?? 0)
        s3 += (query[j + 3] ?? 0) * (codes[base + j + 3] ?? 0)
      }
      for (; j < dimension; j++) s0 += (query[j] ?? 0) * (codes[base + j] ?? 0)
    }
    const score = (s0 + s1 + s2 + s3) * (scales[slot] ?? 0)
    if (size < k) {
      heapScores[size] = score
      heapSlots[size] = slot
      siftUp(size++)
    } else if (score > (heapScores[0] ?? 0)) {
      heapScores[0] = score
      heapSlots[0] = slot
      siftDown(0)
    }
  }
  const out: Array<{ slot: number; score: number }> = []
  for (let i = 0; i < size; i++) out.push({ slot: heapSlots[i] ?? 0, score: heapScores[i] ?? 0 })
  return out.sort((a, b) => b.score - a.score)
}

export interface VectorIndexShape {
  /**
   * The `k` messages of the user whose `model` vectors score highest against
   * `query` (unit length, same model), best first; `exclude` is left out.
   */
  readonly nearest: (
    userId: UserId,
    model: string,
    query: ReadonlyArray<number>,
    k: number,
    exclude?: string
  ) => Effect.Effect<ReadonlyArray<Candidate>, SqlError.SqlError>
  /** The caller found these candidates gone (deleted, or re-embedded with another model): drop them. */
  readonly forget: (userId: UserId, model: string, ids: ReadonlyArray<string>) => Effect.Effect<void>
  readonly stats: Effect.Effect<IndexStats>
}

export class VectorIndex extends Context.Service<VectorIndex, VectorIndexShape>()("mail-helper/VectorIndex") {
  static readonly layer = Layer.effect(
    VectorIndex,
    Effect.gen(function* () {
      const store = yield* SearchStore
      const config = yield* SearchConfig
      const entries = new Map<string, Entry>()

      const entryOf = (userId: UserId, model: string): Entry => {
        const key = `${userId}\u0000${model}`
        let entry = entries.get(key)
        if (entry === undefined) {
          entry = {
            key,
            userId,
            model,
            lock: Semaphore.makeUnsafe(1),
            data: emptyData(),
            loadedAt: 0,
            lastUsed: 0,
            rebuilding: false
          }
          entries.set(key, entry)
        }
        return entry
      }

      const evict = (keep: Entry) => {
        let total = 0
        for (const entry of entries.values()) total += bytesOf(entry.data)
        const byAge = [...entries.values()].filter((e) => e !== keep).sort((a, b) => a.lastUsed - b.lastUsed)
        for (const entry of byAge) {
          if (total <= config.vectorCacheBytes) break
          total -= bytesOf(entry.data)
          entries.delete(entry.key)
        }
      }

      /** Loads what changed since `data.watermark`, up to `highest`. */
      const load = (entry: Entry, data: Data, highest: bigint) =>
        Effect.gen(function* () {
          while (data.watermark < highest) {
            const rows = yield* store.changedSince(entry.userId, entry.model, data.watermark, config.vectorLoadChunk)
            for (const row of rows) {
              // a row written without its int8 copy (another writer) is quantized here
              const packed = row.q8 ?? (row.vector === null ? null : packQ8(row.vector))
              const unpacked = packed === null ? undefined : unpackQ8(packed, row.dimension)
              if (unpacked !== undefined) put(data, row.email_id, unpacked.scale, unpacked.codes)
            }
            const last = rows.at(-1)
            if (last === undefined) break
            data.watermark = BigInt(last.seq)
          }
        })

      const highestChange = (entry: Entry) => store.highestChange(entry.userId, entry.model)

      /** Loads what changed since the last use. */
      const refresh = (entry: Entry) =>
        Effect.gen(function* () {
          yield* load(entry, entry.data, yield* highestChange(entry))
          evict(entry)
        })

      /** Loads everything into a new copy and swaps it in: searches meanwhile use the old one. */
      const rebuild = (entry: Entry) =>
        Effect.gen(function* () {
          const started = Date.now()
          const data = emptyData()
          yield* load(entry, data, yield* highestChange(entry))
          entry.data = data
          entry.loadedAt = started
          evict(entry)
        })

      const nearest = (userId: UserId, model: string, query: ReadonlyArray<number>, k: number, exclude?: string) =>
        Effect.gen(function* () {
          const entry = entryOf(userId, model)
          const now = Date.now()
          entry.lastUsed = now
          if (entry.loadedAt === 0) {
            // the first use waits for the load
            yield* entry.lock.withPermit(Effect.suspend(() => (entry.loadedAt === 0 ? rebuild(entry) : refresh(entry))))
          } else if (now - entry.loadedAt > config.vectorReloadMillis && !entry.rebuilding) {
            // time for a rebuild (reclaims dropped slots): in the background, this query goes on
            entry.rebuilding = true
            yield* entry.lock.withPermit(rebuild(entry)).pipe(
              Effect.catchCause((cause) => Effect.logWarning("vector index rebuild failed", cause)),
              Effect.ensuring(Effect.sync(() => (entry.rebuilding = false))),
              Effect.forkDetach
            )
          } else {
            // while another fiber loads, use what is there (at most that load behind)
            yield* entry.lock.withPermitsIfAvailable(1)(refresh(entry))
          }
          const data = entry.data
          if (data.count === 0 || query.length !== data.dimension) return []
          const skip = exclude === undefined ? -1 : (data.slotOf.get(exclude) ?? -1)
          const q = Float32Array.from(query)
          return scanTopK(data.codes, data.scales, data.count, data.dimension, q, k, skip).flatMap(
            ({ slot, score }) => {
              const id = data.ids[slot] ?? ""
              return id === "" ? [] : [{ id, score }]
            }
          )
        }).pipe(Effect.withSpan("VectorIndex.nearest", { attributes: { "search.k": k } }))

      // The slot stays (score 0, never a hit) until the next rebuild reclaims it.
      const forget = (userId: UserId, model: string, ids: ReadonlyArray<string>) =>
        Effect.sync(() => {
          const data = entries.get(`${userId}\u0000${model}`)?.data
          if (data === undefined) return
          for (const id of ids) {
            const slot = data.slotOf.get(id)
            if (slot === undefined) continue
            data.scales[slot] = 0
            data.slotOf.delete(id)
            data.ids[slot] = ""
          }
        })

      const stats = Effect.sync(() => {
        let vectors = 0
        let bytes = 0
        for (const entry of entries.values()) {
          vectors += entry.data.count
          bytes += bytesOf(entry.data)
        }
        const list = [...entries.values()].map((entry) => ({
          userId: entry.userId,
          model: entry.model,
          vectors: entry.data.count
        }))
        return { users: entries.size, vectors, bytes, entries: list }
      })

      return VectorIndex.of({ nearest, forget, stats })
    })
  )
}
