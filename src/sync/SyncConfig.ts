import { Config, Context, Effect, Layer } from "effect"
import { type ImapFetchSizes, imapFetchSizesConfig } from "../imap/ImapLimits.ts"

/** Tuning of `mail.sync` (docs/accounts-and-sync.md); the fetch sizes are shared with the IMAP client's limits. */
export interface SyncConfigShape extends ImapFetchSizes {
  /** Messages per UID FETCH, parse batch and database transaction (one checkpoint each). */
  readonly batchSize: number
  /** Use CONDSTORE/QRESYNC when the server has them (off: full flag scan + UID comparison, for tests). */
  readonly useCondstore: boolean
  /** Flag updates and expunge checks are written in chunks of this many messages. */
  readonly flagChunkSize: number
}

export const syncConfig = Config.all({
  fetchSizes: imapFetchSizesConfig,
  batchSize: Config.Int("SYNC_BATCH_SIZE").pipe(Config.withDefault(250)),
  useCondstore: Config.Boolean("SYNC_USE_CONDSTORE").pipe(Config.withDefault(true)),
  flagChunkSize: Config.Int("SYNC_FLAG_CHUNK_SIZE").pipe(Config.withDefault(2_000))
}).pipe(
  Config.map(
    (config): SyncConfigShape => ({
      ...config.fetchSizes,
      batchSize: Math.min(2_000, Math.max(1, config.batchSize)),
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
