import { describe, expect, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import { UserEvent } from "../../src/contract/events/UserEvent.ts"
import { changesJobs, changesMail, decodeEvent } from "../../web/src/api/userEvents.ts"

/**
 * The web app's side of `GET /api/v1/events`: what the server writes as an event's `data:` (the
 * contract's schema encoded as JSON, dates as ISO strings) is what the client decodes, and each type
 * refreshes what it should.
 */

const emailId = "9b2f6c1e-1111-4111-8111-111111111111"
const occurredAt = new Date("2026-12-05T10:00:00.000Z")

// as a server writes the data field: the JSON encoding of the contract's schema
const wire = (event: UserEvent): string => JSON.stringify(Schema.encodeSync(Schema.toCodecJson(UserEvent))(event))

// built by decoding, so the ids get their brands without casts
const make = Schema.decodeUnknownSync(UserEvent)
const events: ReadonlyArray<UserEvent> = [
  make({
    _tag: "mail.stored",
    occurredAt,
    accountId: "6f1c1e0a-2222-4222-8222-222222222222",
    mailboxId: "6f1c1e0a-3333-4333-8333-333333333333",
    emailId
  }),
  make({ _tag: "mail.analysed", occurredAt, emailId }),
  make({ _tag: "rule.applied", occurredAt, ruleId: "r", emailId, actions: ["moveTo Archive"] }),
  make({
    _tag: "job.changed",
    occurredAt,
    jobId: "6f1c1e0a-4444-4444-8444-444444444444",
    kind: "mail.sync",
    state: "running",
    progress: null
  })
]

describe("user event stream, client side", () => {
  it("decodes every event as the server writes it, dates included", () => {
    for (const event of events) {
      const decoded = decodeEvent(wire(event))
      expect(Option.isSome(decoded), wire(event)).toBe(true)
      if (Option.isSome(decoded)) {
        expect(decoded.value._tag).toBe(event._tag)
        expect(decoded.value.occurredAt.toISOString()).toBe(occurredAt.toISOString())
      }
    }
  })

  it("skips data it cannot read instead of failing", () => {
    expect(Option.isNone(decodeEvent("not json"))).toBe(true)
    expect(Option.isNone(decodeEvent(JSON.stringify({ _tag: "mail.exploded", occurredAt })))).toBe(true)
  })

  it("mail events and a reset refresh the mail pages; job events and a reset the jobs page", () => {
    const [stored, analysed, applied, job] = events
    for (const event of [stored, analysed, applied]) if (event !== undefined) expect(changesMail(event)).toBe(true)
    if (job !== undefined) {
      expect(changesMail(job)).toBe(false)
      expect(changesJobs(job)).toBe(true)
    }
    expect(changesMail({ _tag: "reset" })).toBe(true)
    expect(changesJobs({ _tag: "reset" })).toBe(true)
    if (stored !== undefined) expect(changesJobs(stored)).toBe(false)
  })
})
