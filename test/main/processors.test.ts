import { assert, describe, it } from "@effect/vitest"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { SyncTickJob } from "../../src/contract/jobs/SyncTickJob.ts"
import { processors } from "../../src/main/processors.ts"

describe("the job catalogue", () => {
  it("pairs every kind but the sync tick (its own BullMQ worker) with exactly one processor", () => {
    const names = jobKinds.map((kind) => kind.name)
    assert.strictEqual(new Set(names).size, names.length, "two kinds share a name")
    assert.deepStrictEqual(Object.keys(processors).sort(), names.filter((name) => name !== SyncTickJob.name).sort())
  })
})
