import { Config } from "effect"

/** Largest message fetched whole by default (SYNC_MAX_MESSAGE_BYTES); equal to the MIME parser's own default (sync/mime.ts). */
export const defaultMaxMessageBytes = 25 * 1024 * 1024

/**
 * The sync settings that decide how much one IMAP connection may have to buffer. They are read here,
 * beside the client that enforces the limits, and composed into the sync's own settings
 * (`sync/SyncConfig.ts`), so the IMAP client (also used by accounts and rules) needs nothing from sync.
 */
export interface ImapFetchSizes {
  /** A batch also ends once its messages add up to this many bytes (RFC822.SIZE). */
  readonly batchBytes: number
  /** Messages above this size are not fetched whole: only their first `oversizePrefixBytes`. */
  readonly maxMessageBytes: number
  readonly oversizePrefixBytes: number
  /**
   * Longest IMAP line without a literal the client accepts (SYNC_IMAP_MAX_LINE_BYTES). The longest
   * legitimate one is a UID SEARCH ALL answer: about 9 bytes per message, so the 16 MiB default
   * covers a mailbox of about 1.8 million messages.
   */
  readonly imapMaxLineBytes: number
}

export const imapFetchSizesConfig = Config.all({
  batchBytes: Config.Int("SYNC_BATCH_BYTES").pipe(Config.withDefault(8 * 1024 * 1024)),
  maxMessageBytes: Config.Int("SYNC_MAX_MESSAGE_BYTES").pipe(Config.withDefault(defaultMaxMessageBytes)),
  oversizePrefixBytes: Config.Int("SYNC_OVERSIZE_PREFIX_BYTES").pipe(Config.withDefault(1024 * 1024)),
  imapMaxLineBytes: Config.Int("SYNC_IMAP_MAX_LINE_BYTES").pipe(Config.withDefault(16 * 1024 * 1024))
}).pipe(
  Config.map(
    (config): ImapFetchSizes => ({
      batchBytes: Math.max(64 * 1024, config.batchBytes),
      maxMessageBytes: Math.max(64 * 1024, config.maxMessageBytes),
      oversizePrefixBytes: Math.max(16 * 1024, config.oversizePrefixBytes),
      imapMaxLineBytes: Math.max(64 * 1024, config.imapMaxLineBytes)
    })
  )
)

/**
 * What one IMAP connection may buffer, derived from what the sync asks for (docs/security.md):
 * - a literal: the sync fetches whole messages up to `maxMessageBytes` and only a prefix of
 *   `oversizePrefixBytes` of bigger ones, so no legitimate literal it requests is larger. A quarter
 *   on top (at least 1 MiB) admits servers whose RFC822.SIZE is a little below the bytes they send
 *   (counted with bare LF, say): 25 MiB messages -> 31.25 MiB literals;
 * - a response: one literal and its FETCH line;
 * - a UID FETCH: a planned batch is either at most `batchBytes` of declared sizes or one message
 *   (MailSync.planBatches), so the larger of a quarter above `batchBytes` and one literal; a server
 *   that under-reports sizes cannot make a batch of 250 messages cost 250 literals;
 * - tokens: imapflow's parse tree costs about 100 bytes per token; 100 000 tokens (10 MB of heap)
 *   is far above any response the sync gets (SEARCH answers are not tokenised).
 */
export interface ImapLimits {
  readonly maxLineBytes: number
  readonly maxLiteralBytes: number
  readonly maxResponseBytes: number
  readonly maxResponseTokens: number
  readonly maxFetchBytes: number
}

export const imapLimitsFor = (config: ImapFetchSizes): ImapLimits => {
  const largest = Math.max(config.maxMessageBytes, config.oversizePrefixBytes)
  const maxLiteralBytes = largest + Math.max(Math.ceil(largest / 4), 1024 * 1024)
  return {
    maxLineBytes: config.imapMaxLineBytes,
    maxLiteralBytes,
    maxResponseBytes: maxLiteralBytes + config.imapMaxLineBytes,
    maxResponseTokens: 100_000,
    maxFetchBytes: Math.max(Math.ceil(config.batchBytes * 1.25), maxLiteralBytes)
  }
}
