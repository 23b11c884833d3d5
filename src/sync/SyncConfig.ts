import { Config, Context, Effect, Layer } from "effect"
import { defaultMimeLimits } from "./mime.ts"

/** Tuning of `mail.sync` (docs/sync.md). */
export interface SyncConfigShape {
  /** Messages per UID FETCH, parse batch and database transaction (one checkpoint each). */
  readonly batchSize: number
  /** A batch also ends once its messages add up to this many bytes (RFC822.SIZE). */
  readonly batchBytes: number
  /** Messages above this size are not fetched whole: only their first `oversizePrefixBytes`. */
  readonly maxMessageBytes: number
  readonly oversizePrefixBytes: number
  /** Use CONDSTORE/QRESYNC when the server has them (off: full flag scan + UID comparison, for tests). */
  readonly useCondstore: boolean
  /** Flag updates and expunge checks are written in chunks of this many messages. */
  readonly flagChunkSize: number
}

export const syncConfig = Config.all({
  batchSize: Config.Int("SYNC_BATCH_SIZE").pipe(Config.withDefault(250)),
  batchBytes: Config.Int("SYNC_BATCH_BYTES").pipe(Config.withDefault(8 * 1024 * 1024)),
  maxMessageBytes: Config.Int("SYNC_MAX_MESSAGE_BYTES").pipe(Config.withDefault(defaultMimeLimits.maxMessageBytes)),
  oversizePrefixBytes: Config.Int("SYNC_OVERSIZE_PREFIX_BYTES").pipe(Config.withDefault(1024 * 1024)),
  useCondstore: Config.Boolean("SYNC_USE_CONDSTORE").pipe(Config.withDefault(true)),
  flagChunkSize: Config.Int("SYNC_FLAG_CHUNK_SIZE").pipe(Config.withDefault(2_000))
}).pipe(
  Config.map(
    (config): SyncConfigShape => ({
      batchSize: Math.min(2_000, Math.max(1, config.batchSize)),
      batchBytes: Math.max(64 * 1024, config.batchBytes),
      maxMessageBytes: Math.max(64 * 1024, config.maxMessageBytes),
      oversizePrefixBytes: Math.max(16 * 1024, config.oversizePrefixBytes),
      useCondstore: config.useCondstore,
      flagChunkSize: Math.max(100, config.flagChunkSize)
    })
  )
)

export class SyncConfig extends Context.Service<SyncConfig, SyncConfigShape>()("mail-helper/SyncConfig") {
  static readonly layer = Layer.effect(
    SyncConfig,
    Effect.gen(function* () {
      return yield* syncConfig
    })
  )
}
