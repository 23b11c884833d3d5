import { Effect, Layer, Option, Schema } from "effect"
import { HttpServerRequest } from "effect/http"
import type { SqlClient } from "effect/sql"
import { Unauthorized } from "../../src/contract/http/ApiErrors.ts"
import { Authentication, CurrentUser } from "../../src/contract/users/CurrentUser.ts"
import { UserId } from "../../src/contract/users/UserId.ts"
import type { UserScope } from "../../src/users/UserScope.ts"
import { ensureTestUser } from "../users/fixtures.ts"

/**
 * Stand-in authentication for tests of features below the users module:
 * the user id comes from an `x-test-user` header (and `x-test-role: admin`
 * makes an admin). Never part of a program.
 * The user row is created on first sight (jobs and other rows reference users).
 */
export const TestAuthenticationLive = Layer.effect(
  Authentication,
  Effect.gen(function* () {
    const context = yield* Effect.context<SqlClient.SqlClient | UserScope>()
    return Authentication.of((httpEffect) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const id = Schema.decodeUnknownOption(UserId)(request.headers["x-test-user"])
        if (Option.isNone(id)) return yield* new Unauthorized({ message: "not signed in" })
        yield* ensureTestUser(id.value).pipe(Effect.provideContext(context))
        return yield* Effect.provideService(httpEffect, CurrentUser, {
          id: id.value,
          email: "test@example.com",
          role: request.headers["x-test-role"] === "admin" ? "admin" : "user"
        })
      })
    )
  })
)
