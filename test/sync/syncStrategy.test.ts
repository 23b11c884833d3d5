/**
 * The strategy the product reports for a server (src/sync/SyncStrategy.ts), over generated
 * capability sets: what it claims must be what the session can do, the wording must match the
 * choice, more capabilities never give a worse strategy, and whatever a hostile server announces
 * is bounded before it is stored and shown.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import { ServerProfile, type SyncStrategy } from "../../src/contract/accounts/Account.ts"
import { decideStrategy, serverProfile } from "../../src/sync/SyncStrategy.ts"

const known = [
  "IMAP4rev1",
  "IMAP4rev2",
  "CONDSTORE",
  "QRESYNC",
  "LIST-STATUS",
  "SPECIAL-USE",
  "MOVE",
  "UIDPLUS",
  "ENABLE",
  "UTF8=ACCEPT",
  "ID",
  "NAMESPACE",
  "IDLE"
]
const enableable = ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"]

/** Any case: servers spell atoms as they like. */
const spelled = (name: string) =>
  fc.constantFrom(name, name.toLowerCase(), name.toUpperCase(), name.charAt(0).toLowerCase() + name.slice(1))

const capabilitySet = fc
  .subarray(known)
  .chain((names) => (names.length === 0 ? fc.constant<Array<string>>([]) : fc.tuple(...names.map(spelled))))
const enabledSet = fc
  .subarray(enableable)
  .chain((names) => (names.length === 0 ? fc.constant<Array<string>>([]) : fc.tuple(...names.map(spelled))))
const input = fc.record({ capabilities: capabilitySet, enabled: enabledSet, useCondstore: fc.boolean() })

const has = (values: ReadonlyArray<string>, name: string) => values.some((v) => v.toUpperCase() === name)

const rank: { readonly [K in keyof SyncStrategy]: ReadonlyArray<SyncStrategy[K]> } = {
  listing: ["LIST+STATUS", "LIST-STATUS"],
  flags: ["full flag scan", "CONDSTORE"],
  expunges: ["flag scan comparison", "UID SEARCH comparison", "QRESYNC"],
  names: ["modified UTF-7", "UTF-8"],
  specialUse: ["names", "SPECIAL-USE"],
  ruleMoves: ["COPY+EXPUNGE without UIDPLUS (guarded)", "COPY+EXPUNGE", "MOVE"]
}
const keys = Object.keys(rank) as ReadonlyArray<keyof SyncStrategy>
const level = <K extends keyof SyncStrategy>(key: K, value: SyncStrategy[K]) => rank[key].indexOf(value)

describe("decideStrategy", () => {
  it("claims CONDSTORE and QRESYNC only when the connection enabled them and the config allows it", () => {
    fc.assert(
      fc.property(input, (i) => {
        const { strategy } = decideStrategy(i)
        const condstore = i.useCondstore && has(i.enabled, "CONDSTORE")
        assert.strictEqual(strategy.flags === "CONDSTORE", condstore)
        assert.strictEqual(strategy.expunges === "flag scan comparison", !condstore)
        assert.strictEqual(strategy.expunges === "QRESYNC", condstore && has(i.enabled, "QRESYNC"))
        // announced is not enough: only what the session ENABLEd counts
        if (!has(i.enabled, "CONDSTORE")) assert.strictEqual(strategy.flags, "full flag scan")
      }),
      { numRuns: 500 }
    )
  })

  it("never promises a MOVE or a safe expunge the server did not announce (or fold into IMAP4rev2)", () => {
    fc.assert(
      fc.property(input, (i) => {
        const { strategy } = decideStrategy(i)
        const rev2 =
          has(i.enabled, "IMAP4REV2") || (has(i.capabilities, "IMAP4REV2") && !has(i.capabilities, "IMAP4REV1"))
        if (!rev2) {
          assert.strictEqual(strategy.ruleMoves === "MOVE", has(i.capabilities, "MOVE"))
          assert.strictEqual(
            strategy.ruleMoves === "COPY+EXPUNGE without UIDPLUS (guarded)",
            !has(i.capabilities, "MOVE") && !has(i.capabilities, "UIDPLUS")
          )
          assert.strictEqual(strategy.listing === "LIST-STATUS", has(i.capabilities, "LIST-STATUS"))
          assert.strictEqual(strategy.specialUse === "SPECIAL-USE", has(i.capabilities, "SPECIAL-USE"))
          assert.strictEqual(strategy.names === "UTF-8", has(i.enabled, "UTF8=ACCEPT"))
        } else {
          assert.strictEqual(strategy.ruleMoves, "MOVE")
          assert.strictEqual(strategy.names, "UTF-8")
        }
      }),
      { numRuns: 500 }
    )
  })

  // except IMAP4rev1 next to IMAP4rev2: then rev2 must be ENABLEd to count (RFC 9051 Appendix A)
  it("more capabilities never give a worse strategy", () => {
    fc.assert(
      fc.property(input, capabilitySet, enabledSet, (i, moreCaps, moreEnabled) => {
        const before = decideStrategy(i).strategy
        const after = decideStrategy({
          ...i,
          capabilities: [...i.capabilities, ...moreCaps.filter((name) => name.toUpperCase() !== "IMAP4REV1")],
          enabled: [...i.enabled, ...moreEnabled]
        }).strategy
        for (const key of keys) {
          assert.isAtLeast(level(key, after[key]), level(key, before[key]), `${key}: ${before[key]} -> ${after[key]}`)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("says in words what it chose", () => {
    fc.assert(
      fc.property(input, (i) => {
        const { strategy, explanation } = decideStrategy(i)
        assert.strictEqual(explanation.flags.includes("every flag"), strategy.flags === "full flag scan")
        assert.strictEqual(explanation.expunges.startsWith("QRESYNC"), strategy.expunges === "QRESYNC")
        assert.strictEqual(explanation.listing.startsWith("LIST-STATUS"), strategy.listing === "LIST-STATUS")
        assert.strictEqual(explanation.specialUse.startsWith("SPECIAL-USE"), strategy.specialUse === "SPECIAL-USE")
        assert.strictEqual(explanation.ruleMoves.startsWith("MOVE"), strategy.ruleMoves === "MOVE")
        assert.strictEqual(explanation.ruleMoves.includes("guarded"), strategy.ruleMoves.includes("guarded"))
        for (const sentence of Object.values(explanation)) assert.isAbove(sentence.length, 10)
      }),
      { numRuns: 300 }
    )
  })
})

describe("serverProfile", () => {
  const hostile = fc.string({ unit: "binary", maxLength: 400 })
  it("bounds and cleans what a server announces, and round-trips through the stored JSON", () => {
    fc.assert(
      fc.property(
        fc.array(hostile, { maxLength: 400 }),
        fc.option(fc.record({ name: fc.oneof(hostile, fc.integer()), version: fc.oneof(hostile, fc.constant(null)) })),
        fc.option(fc.record({ prefix: hostile, delimiter: fc.option(hostile) })),
        fc.boolean(),
        (capabilities, serverId, namespace, useCondstore) => {
          const profile = serverProfile({ capabilities, enabled: [], useCondstore, serverId, namespace })
          assert.isAtMost(profile.capabilities.length, 200)
          const texts = [
            ...profile.capabilities,
            profile.product ?? "",
            profile.namespace?.prefix ?? "",
            profile.namespace?.separator ?? ""
          ]
          for (const text of texts) {
            assert.isAtMost(text.length, 200)
            const control = [...text].find((char) => {
              const code = char.codePointAt(0) ?? 0
              return code < 0x20 || (code >= 0x7f && code <= 0x9f)
            })
            assert.isUndefined(control, `a control character in ${JSON.stringify(text)}`)
          }
          for (const capability of profile.capabilities) assert.isAtMost(capability.length, 100)
          if (serverId === null) assert.isNull(profile.product)
          const stored = JSON.parse(JSON.stringify(Schema.encodeSync(ServerProfile)(profile)))
          assert.deepStrictEqual(Schema.decodeUnknownSync(ServerProfile)(stored), profile)
        }
      ),
      { numRuns: 200 }
    )
  })
})
