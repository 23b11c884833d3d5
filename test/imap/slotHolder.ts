/**
 * A child process for test/sync/imapConnectionCap.test.ts: takes `count` IMAP connection slots of
 * `accountId` (ImapSlots over the test's Redis prefix, from the environment), prints "held" and
 * then holds them, refreshing the leases, until it is killed.
 *
 *   node --import tsx test/imap/slotHolder.ts <accountId> <count>
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { ImapSlotLimits, ImapSlots } from "../../src/imap/ImapSlots.ts"
import { AppConfig } from "../../src/platform/Config.ts"
import { Redis } from "../../src/platform/Redis.ts"

const accountId = process.argv[2] ?? "missing-account"
const count = Number(process.argv[3] ?? "1")

const program = Effect.gen(function* () {
  const slots = yield* ImapSlots
  for (let i = 0; i < count; i++) yield* slots.acquire(accountId, { wait: "20 seconds" })
  yield* Effect.sync(() => process.stdout.write("held\n"))
  return yield* Effect.never
}).pipe(Effect.scoped)

const SlotsLive = ImapSlots.layer.pipe(
  Layer.provide(Layer.mergeAll(ImapSlotLimits.layerDefaults, Redis.layer)),
  Layer.provide(AppConfig.layer)
)

program.pipe(Effect.provide(SlotsLive), NodeRuntime.runMain)
