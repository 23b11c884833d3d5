import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { UserId } from "../../src/contract/users/UserId.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { insertMails, makeMailbox } from "../emails/fixtures.ts"
import { appTestLayer } from "../emails/helpers.ts"

/*
 * Mail whose job was lost (cancelled, out of attempts after a crash, a leaked claim) stayed pending
 * after its claim expired until the owner's next sync stored new mail: days for a quiet mailbox (a
 * fairness bench hung on 2-36 such messages). The worker's sweep (src/analysis/PendingMailSweep.ts,
 * here every second) queues the owner's analysis and embedding; fresh mail's own jobs are not raced.
 */

const layerUnderTest = appTestLayer({ MAIL_PENDING_SWEEP_SECONDS: "1" })

layer(layerUnderTest, { excludeTestServices: true, timeout: "60 seconds" })("the pending mail sweep", (it) => {
  it.effect("pending mail with an expired claim and no job is queued by the sweep and analysed", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const lost = UserId.make(crypto.randomUUID())
      const fresh = UserId.make(crypto.randomUUID())
      const mails = (n: number) =>
        Array.from({ length: n }, (_, i) => ({ subject: `Lost ${i}`, text: `A message no job took (${i}).` }))
      yield* insertMails(yield* makeMailbox(lost), mails(3))
      yield* insertMails(yield* makeMailbox(fresh), mails(2))
      // stored an hour ago; a job that is gone claimed them and its claims expired; no job is left
      yield* scope
        .run(
          lost,
          sql`
            UPDATE emails SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour',
              analysis_claimed_until = now() - interval '1 second', analysis_claimed_by = ${crypto.randomUUID()}::uuid,
              embedding_claimed_until = now() - interval '1 second', embedding_claimed_by = ${crypto.randomUUID()}::uuid
            WHERE user_id = ${lost}`
        )
        .pipe(Effect.orDie)
      const pending = (owner: UserId) =>
        scope
          .run(
            owner,
            sql<{ n: number }>`
              SELECT count(*)::int AS n FROM emails
              WHERE analysis_state = 'pending' OR embedding_state = 'pending'`
          )
          .pipe(
            Effect.map((rows) => rows[0]?.n ?? -1),
            Effect.orDie
          )
      // the sweep queues the owner's jobs and they take the mail
      yield* pending(lost).pipe(
        Effect.flatMap((n) => (n === 0 ? Effect.void : Effect.fail(`${n} still pending`))),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
        Effect.orDie
      )
      const jobsOf = (owner: UserId) =>
        scope.run(owner, sql<{ kind: string }>`SELECT kind FROM jobs WHERE user_id = ${owner} ORDER BY kind`).pipe(
          Effect.map((rows) => rows.map((row) => row.kind)),
          Effect.orDie
        )
      assert.deepStrictEqual(yield* jobsOf(lost), ["mail.analyze", "mail.embed"])
      // fresh mail (inside the grace) is left to its own jobs: several passes queued nothing for it
      yield* Effect.sleep("2 seconds")
      assert.deepStrictEqual(yield* jobsOf(fresh), [])
      assert.strictEqual(yield* pending(fresh), 2)
    })
  )
})
