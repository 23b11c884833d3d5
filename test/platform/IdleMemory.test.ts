import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { loadMallocTrim, MallocTrimFailed, makeIdleMemory } from "../../src/platform/IdleMemory.ts"

/** A stand-in for malloc_trim that counts its calls. */
const countingTrim = () => {
  let calls = 0
  const trim = () =>
    Effect.sync(() => {
      calls += 1
      return true
    })
  return { trim, calls: () => calls }
}

describe("IdleMemory", () => {
  it.effect("trims once, a delay after the last job ended, never while a job runs", () =>
    Effect.gen(function* () {
      const fake = countingTrim()
      const idle = yield* makeIdleMemory(fake.trim, 10_000)
      // nothing ran yet: a worker idle since start-up does not trim
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(fake.calls(), 0)

      // two jobs overlap; the first ends, the second runs on past the delay: no trim
      yield* idle.jobStarted
      yield* idle.jobStarted
      yield* idle.jobEnded
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(fake.calls(), 0, "trimmed while a job ran")

      // the last job ends; another starts before the delay is up (a follow-up): no trim yet
      yield* idle.jobEnded
      yield* TestClock.adjust("9 seconds")
      yield* idle.jobStarted
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual(fake.calls(), 0, "trimmed between a job and its follow-up")
      yield* idle.jobEnded
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(fake.calls(), 0)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(fake.calls(), 1)

      // one trim per idle period
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(fake.calls(), 1, "trimmed twice in one idle period")

      // a new job, then idle again: a second trim
      yield* idle.jobStarted
      yield* idle.jobEnded
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(fake.calls(), 2)
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual(fake.calls(), 2)
    })
  )

  it.effect("a trim that fails is logged and the next idle period trims again", () =>
    Effect.gen(function* () {
      let calls = 0
      const idle = yield* makeIdleMemory(
        () =>
          Effect.suspend(() => {
            calls += 1
            return Effect.fail(new MallocTrimFailed({ message: "test" }))
          }),
        5_000
      )
      yield* idle.jobStarted
      yield* idle.jobEnded
      yield* TestClock.adjust("5 seconds")
      yield* idle.jobStarted
      yield* idle.jobEnded
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(calls, 2)
    })
  )

  it.effect("the real koffi binding calls glibc's malloc_trim on this machine", () =>
    Effect.gen(function* () {
      const trim = yield* loadMallocTrim
      const released = yield* trim()
      assert.isBoolean(released)
    })
  )
})
