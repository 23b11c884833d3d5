/**
 * Imported corrections waiting for their mail (`import_pending_corrections`, migration 0059). The
 * sync brings the mail back; after each sync (src/sync/MailSync.ts, AFTER-SYNC HOOK) and right after
 * an import, every waiting row is matched within its account: by Message-ID, or by folder + UID when
 * the old row had no Message-ID; only the canonical copy of a message carries corrections (migration
 * 0057). A match becomes an `email_overrides` row: it then wins over the analysis as every
 * correction does; a correction the user already made here wins over the imported one.
 */
import { Effect } from "effect"
import type { UserId } from "../contract/users/UserId.ts"
import { fromSqlError } from "../platform/Database.ts"
import { ImportStore } from "./ImportStore.ts"

/** Applies the owner's waiting corrections that now have their message; returns how many were applied. */
export const applyPendingCorrections = (owner: UserId) =>
  ImportStore.use((store) => store.applyPendingCorrections(owner)).pipe(
    Effect.mapError(fromSqlError),
    Effect.withSpan("import.applyPendingCorrections"),
    // the store's own layer: callers (the sync's follow-ups, the import) provide only SqlClient and UserScope
    Effect.provide(ImportStore.layer)
  )
