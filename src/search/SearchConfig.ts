import { Context, Effect, Layer } from "effect"
import { boundedInt } from "../platform/Config.ts"

/**
 * | variable                      | default | meaning                                                             |
 * |-------------------------------|---------|---------------------------------------------------------------------|
 * | SEARCH_VECTOR_CACHE_MB        | 256     | memory for the in-process vector index, over all users (16-65536)   |
 * | SEARCH_VECTOR_RELOAD_MINUTES  | 30      | a user's index is rebuilt from scratch after this long (1-1440)     |
 * | SEARCH_VECTOR_LOAD_CHUNK      | 5000    | vectors read per query while (re)loading (1-50000)                  |
 * | SEARCH_INDEX_BATCH_SIZE       | 100     | full-text vectors search.index computes per transaction (1-10000)   |
 */
export interface SearchConfigShape {
  readonly vectorCacheBytes: number
  readonly vectorReloadMillis: number
  readonly vectorLoadChunk: number
  readonly indexBatchSize: number
}

export const defaultSearchConfig: SearchConfigShape = {
  vectorCacheBytes: 256 * 1024 * 1024,
  vectorReloadMillis: 30 * 60_000,
  vectorLoadChunk: 5_000,
  // about 0.3 s of to_tsvector per batch: the rows' locks are held that long, and analysis and
  // embedding of the same (newest) rows wait for them (issue 17: the first screen analysed in a second)
  indexBatchSize: 100
}

export class SearchConfig extends Context.Service<SearchConfig, SearchConfigShape>()("mail-helper/SearchConfig") {
  static readonly layer = Layer.effect(
    SearchConfig,
    Effect.gen(function* () {
      const megabytes = yield* boundedInt("SEARCH_VECTOR_CACHE_MB", 16, 65_536, 256)
      const minutes = yield* boundedInt("SEARCH_VECTOR_RELOAD_MINUTES", 1, 1_440, 30)
      const chunk = yield* boundedInt("SEARCH_VECTOR_LOAD_CHUNK", 1, 50_000, 5_000)
      const indexBatchSize = yield* boundedInt("SEARCH_INDEX_BATCH_SIZE", 1, 10_000, defaultSearchConfig.indexBatchSize)
      return {
        vectorCacheBytes: megabytes * 1024 * 1024,
        vectorReloadMillis: minutes * 60_000,
        vectorLoadChunk: chunk,
        indexBatchSize
      }
    })
  )
}
