/**
 * Imported corrections waiting for their mail (`import_pending_corrections`, migration 0059). The
 * sync brings the mail back; after each sync (src/sync/MailSync.ts, AFTER-SYNC HOOK) and right after
 * an import, every waiting row is matched within its account: by Message-ID, or by folder + UID when
 * the old row had no Message-ID; only the canonical copy of a message carries corrections (migration
 * 0057). A match becomes an `email_overrides` row: it then wins over the analysis as every
 * correction does; a correction the user already made here wins over the imported one.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { fromSqlError } from "../platform/Database.ts"
import type { UserId } from "../contract/users/UserId.ts"
import { UserScope } from "../users/UserScope.ts"

/** Applies the owner's waiting corrections that now have their message; returns how many were applied. */
export const applyPendingCorrections = (owner: UserId) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const scope = yield* UserScope
    return yield* scope.run(
      owner,
      Effect.gen(function* () {
        const rows = yield* sql<{ readonly id: string }>`
          WITH waiting AS (
            SELECT p.* FROM import_pending_corrections p
            WHERE p.user_id = ${owner} AND p.applied_at IS NULL
          ), matched AS (
            -- one correction per message (the oldest), so the upsert touches each row once
            SELECT DISTINCT ON (e.id) w.id AS pending_id, e.id AS email_id,
              w.urgency, w.importance, w.category, w.spam, w.tags
            FROM waiting w
            JOIN emails e ON e.account_id = w.account_id AND e.user_id = ${owner} AND e.canonical
            LEFT JOIN mailboxes m ON m.id = e.mailbox_id
            WHERE (w.message_id IS NOT NULL AND e.message_id = w.message_id)
               OR (w.message_id IS NULL AND m.path = w.mailbox AND e.uid = w.uid)
            ORDER BY e.id, w.created_at, w.id
          ), written AS (
            -- a data-modifying WITH runs to completion whether or not the main query reads it
            INSERT INTO email_overrides (email_id, user_id, urgency, importance, category, spam, tags)
            SELECT email_id, ${owner}, urgency, importance, category, spam, tags FROM matched
            ON CONFLICT (email_id) DO UPDATE SET
              urgency = COALESCE(email_overrides.urgency, EXCLUDED.urgency),
              importance = COALESCE(email_overrides.importance, EXCLUDED.importance),
              category = COALESCE(email_overrides.category, EXCLUDED.category),
              spam = COALESCE(email_overrides.spam, EXCLUDED.spam),
              tags = COALESCE(email_overrides.tags, EXCLUDED.tags),
              updated_at = now()
            RETURNING email_id
          )
          UPDATE import_pending_corrections SET applied_at = now()
          WHERE id IN (SELECT pending_id FROM matched)
          RETURNING id`
        return rows.length
      })
    )
  }).pipe(Effect.mapError(fromSqlError), Effect.withSpan("import.applyPendingCorrections"))
