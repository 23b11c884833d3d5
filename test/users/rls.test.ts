import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { PingJob } from "../../src/contract/jobs/PingJob.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { DatabaseRoles } from "../../src/platform/Database.ts"
import { ApiTokenStore } from "../../src/users/ApiTokenStore.ts"
import { Auth } from "../../src/users/Auth.ts"
import { UserScope } from "../../src/users/UserScope.ts"
import { apiTestLayer, freshEmail, strongPassword } from "./helpers.ts"

const makeUser = (name: string) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    return yield* auth.createUser({ email: freshEmail(name), password: Redacted.make(strongPassword), role: "user" })
  }).pipe(Effect.orDie)

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })("row-level security", (it) => {
  it.effect("queries without a user_id filter see only the scope's user's rows", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const jobs = yield* Jobs
      const tokens = yield* ApiTokenStore
      const alice = yield* makeUser("alice")
      const bob = yield* makeUser("bob")
      for (const owner of [alice.id, alice.id, bob.id, null]) {
        yield* jobs.submit(PingJob, { sleepMillis: 0 }, { ownerId: owner }).pipe(Effect.orDie)
      }
      yield* tokens.create(alice, { name: "a" }).pipe(Effect.orDie)
      yield* tokens.create(bob, { name: "b" }).pipe(Effect.orDie)

      // The forgetful queries: no WHERE user_id anywhere.
      const aliceJobs = yield* scope.run(alice.id, sql<{ user_id: string }>`SELECT * FROM jobs`)
      assert.lengthOf(aliceJobs, 2)
      for (const row of aliceJobs) assert.strictEqual(row.user_id, alice.id)
      const bobJobs = yield* scope.run(bob.id, sql<{ user_id: string }>`SELECT * FROM jobs`)
      assert.deepStrictEqual(
        bobJobs.map((row) => row.user_id),
        [bob.id]
      )
      const aliceUsers = yield* scope.run(alice.id, sql<{ id: string }>`SELECT * FROM users`)
      assert.deepStrictEqual(
        aliceUsers.map((row) => row.id),
        [alice.id]
      )
      const aliceTokens = yield* scope.run(alice.id, sql<{ user_id: string }>`SELECT * FROM api_tokens`)
      assert.deepStrictEqual(
        aliceTokens.map((row) => row.user_id),
        [alice.id]
      )
      const [counted] = yield* scope.run(
        alice.id,
        sql<{ n: number }>`SELECT count(*)::int AS n FROM jobs j JOIN users u ON u.id = j.user_id`
      )
      assert.strictEqual(counted?.n, 2)

      // Writes without a filter touch only the scope's rows...
      yield* scope.run(alice.id, sql`UPDATE jobs SET kind = 'touched-by-alice'`)
      yield* scope.run(alice.id, sql`DELETE FROM api_tokens`)
      const all = yield* scope.system(
        "test: read everything",
        sql<{ user_id: string | null; kind: string }>`SELECT * FROM jobs`
      )
      assert.lengthOf(all, 4, "the system path sees every row, the system job included")
      for (const row of all) assert.strictEqual(row.kind === "touched-by-alice", row.user_id === alice.id)
      const [left] = yield* scope.system("test", sql<{ n: number }>`SELECT count(*)::int AS n FROM api_tokens`)
      assert.strictEqual(left?.n, 1, "bob's token survived alice's unfiltered DELETE")

      // ...and a row for another user cannot be written at all.
      const forged = yield* Effect.exit(
        scope.run(
          alice.id,
          sql`INSERT INTO api_tokens (user_id, name, token_hash, token_prefix) VALUES (${bob.id}, 'x', 'h', 'mh_x')`
        )
      )
      assert.isTrue(Exit.isFailure(forged))
      assert.include(Cause.pretty(Exit.isFailure(forged) ? forged.cause : Cause.empty), "row-level security")
      const moved = yield* Effect.exit(scope.run(alice.id, sql`UPDATE jobs SET user_id = ${bob.id}`))
      assert.isTrue(Exit.isFailure(moved), "a row cannot be handed to another user")
    })
  )

  it.effect("outside any scope the pool sees nothing (fail closed) and is not privileged", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const jobs = yield* Jobs
      const alice = yield* makeUser("unscoped")
      yield* jobs.submit(PingJob, {}, { ownerId: alice.id }).pipe(Effect.orDie)
      const [who] = yield* sql<{ role: string; super: boolean; bypass: boolean }>`
        SELECT current_user AS role, rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user`
      assert.deepStrictEqual(who, { role: DatabaseRoles.app, super: false, bypass: false })
      assert.lengthOf(yield* sql`SELECT * FROM jobs`, 0)
      assert.lengthOf(yield* sql`SELECT * FROM users`, 0)
      const write = yield* Effect.exit(
        sql`INSERT INTO jobs (user_id, kind, payload, max_attempts) VALUES (${alice.id}, 'x', '{}'::jsonb, 1)`
      )
      assert.isTrue(Exit.isFailure(write))
      const ddl = yield* Effect.exit(sql`DROP TABLE jobs`)
      assert.isTrue(Exit.isFailure(ddl), "the app role does not own the schema")
      const invites = yield* Effect.exit(sql`SELECT * FROM invites`)
      assert.isTrue(Exit.isFailure(invites), "invites are for the system role only")
    })
  )

  it.effect("scopes do not nest across users", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const scope = yield* UserScope
      const alice = yield* makeUser("nest-a")
      const bob = yield* makeUser("nest-b")
      const same = yield* scope.run(alice.id, scope.run(alice.id, sql<{ id: string }>`SELECT id FROM users`))
      assert.deepStrictEqual(
        same.map((row) => row.id),
        [alice.id]
      )
      const crossed = yield* Effect.exit(scope.run(alice.id, scope.run(bob.id, sql`SELECT 1`)))
      assert.isTrue(Exit.isFailure(crossed) && Cause.hasDies(crossed.cause))
      const escalated = yield* Effect.exit(scope.run(alice.id, scope.system("test", sql`SELECT 1`)))
      assert.isTrue(Exit.isFailure(escalated) && Cause.hasDies(escalated.cause))
    })
  )

  it.effect("every table with a user_id column is under forced row-level security with an owner policy", () =>
    Effect.gen(function* () {
      const scope = yield* UserScope
      const sql = yield* SqlClient.SqlClient
      const tables = yield* scope.system(
        "test: catalogue",
        sql<{ table: string; rls: boolean; forced: boolean; owner: string; policies: number }>`
          SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                 pg_get_userbyid(c.relowner) AS owner,
                 (SELECT count(*)::int FROM pg_policies p
                   WHERE p.schemaname = 'public' AND p.tablename = c.relname AND ${DatabaseRoles.app} = ANY (p.roles)) AS policies
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r'
            AND (c.relname = 'users' OR EXISTS (
              SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'user_id' AND NOT a.attisdropped))`
      )
      const names = tables.map((t) => t.table)
      assert.includeMembers(names, ["users", "jobs", "api_tokens"])
      for (const table of tables) {
        assert.isTrue(table.rls && table.forced, `${table.table}: row-level security enabled and forced`)
        assert.isAtLeast(table.policies, 1, `${table.table}: a policy for ${DatabaseRoles.app}`)
        assert.notStrictEqual(table.owner, DatabaseRoles.app)
      }
      // A view or a SECURITY DEFINER function runs with its owner's rights: the owner bypasses
      // row-level security, so every view must be security_invoker and no function a definer.
      const views = yield* scope.system(
        "test: catalogue",
        sql<{ view: string; invoker: boolean }>`
          SELECT c.relname AS view, COALESCE('security_invoker=true' = ANY (c.reloptions), false) AS invoker
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')`
      )
      for (const view of views) assert.isTrue(view.invoker, `view ${view.view} must be WITH (security_invoker = true)`)
      // Two reviewed exceptions: full-text search (0031) and the thread look-up (0057), whose GIN
      // indexes PostgreSQL cannot use under row-level security (`@@` and `@>` are not leakproof).
      // Each filters by the scope's user itself, runs as the system role, pins its search_path and
      // is callable by the app role only (docs/security.md).
      const definers = yield* scope.system(
        "test: catalogue",
        sql<{ name: string; owner: string; config: ReadonlyArray<string> | null; public: boolean }>`
          SELECT p.proname AS name, pg_get_userbyid(p.proowner) AS owner, p.proconfig AS config,
            has_function_privilege('public', p.oid, 'EXECUTE') AS public
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.prosecdef`
      )
      assert.deepStrictEqual(
        definers.map((definer) => definer.name).sort(),
        ["app_fulltext_search", "app_thread_links"],
        "SECURITY DEFINER functions: only the reviewed search and thread look-up functions"
      )
      for (const definer of definers) {
        assert.strictEqual(definer.owner, DatabaseRoles.system, `${definer.name} runs as the system role`)
        assert.isTrue(
          (definer.config ?? []).some((setting) => setting.startsWith("search_path=")),
          `${definer.name} pins its search_path`
        )
        assert.isFalse(definer.public, `${definer.name} is not executable by PUBLIC`)
      }
    })
  )
})
