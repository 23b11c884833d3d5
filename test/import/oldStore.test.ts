/**
 * The PostgreSQL password outside the URL: `PGPASSWORD`, handed to the driver (which reads neither it
 * nor ~/.pgpass itself) only when the URL carries none. The test server trusts every login, so this
 * checks what the import hands over, not a password exchange.
 */
import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { parseSource, postgresPassword } from "../../src/import/OldStore.ts"

const passwordFor = (url: string, env: Record<string, string>) => {
  const source = parseSource(url)
  if (source._tag !== "postgres") throw new Error("not a postgres source")
  return Effect.runSync(
    postgresPassword(source).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))
  )
}

describe("postgresPassword", () => {
  it("takes PGPASSWORD for a URL without a password", () => {
    const found = passwordFor("postgresql://reader@oldhost/kimail", { PGPASSWORD: "s3cret" })
    expect(Option.map(found, Redacted.value)).toEqual(Option.some("s3cret"))
  })
  it("keeps the URL's own password and needs none", () => {
    expect(Option.isNone(passwordFor("postgresql://reader:inurl@oldhost/kimail", { PGPASSWORD: "s3cret" }))).toBe(true)
    expect(Option.isNone(passwordFor("postgresql://reader@oldhost/kimail", {}))).toBe(true)
  })
})
