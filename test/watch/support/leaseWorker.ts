/**
 * A worker-like process that runs only the account leases over the real Redis and PostgreSQL of
 * its environment (the worker program does not wire the leases yet). It writes one JSON line per
 * change of its owned set to stdout: {"type":"owned","at":<epoch ms>,"worker":..,"accounts":[[id,fence],..]}.
 * On SIGTERM it reports the empty set first (as the watchers would stop), then the leases drain.
 */
import { Effect, Layer, Stream } from "effect"
import { AccountStore } from "../../../src/accounts/AccountStore.ts"
import { WorkerIdentity } from "../../../src/jobs/WorkerRuntime.ts"
import { launch } from "../../../src/main/program.ts"
import { Crypto } from "../../../src/platform/Crypto.ts"
import { AccountLeases, AccountLeasesLive } from "../../../src/watch/AccountLeases.ts"
import { AccountOwnership } from "../../../src/watch/AccountOwnership.ts"

const report = (worker: string, accounts: ReadonlyArray<readonly [string, number]>) =>
  Effect.sync(() => {
    process.stdout.write(`${JSON.stringify({ type: "owned", at: Date.now(), worker, accounts })}\n`)
  })

const Reporter = Layer.effectDiscard(
  Effect.gen(function* () {
    const ownership = yield* AccountOwnership
    const leases = yield* AccountLeases
    yield* ownership.owned.pipe(
      Stream.runForEach((owned) =>
        report(
          leases.workerId,
          [...owned.accounts].map(([id, { fence }]) => [id, fence] as const)
        )
      ),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => report(leases.workerId, []))
  })
)

const LeaseWorker = Reporter.pipe(
  Layer.provide(AccountLeasesLive),
  Layer.provide(AccountStore.layer.pipe(Layer.provide(Crypto.layer))),
  Layer.provide(WorkerIdentity.layer)
)

launch("leases", LeaseWorker, { migrate: false })
