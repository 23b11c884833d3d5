import { Effect, Layer, Option, Schema } from "effect"
import { HttpServerRequest } from "effect/http"
import { Unauthorized } from "../../src/http/ApiErrors.ts"
import { Authentication, CurrentUser } from "../../src/users/CurrentUser.ts"
import { UserId } from "../../src/users/UserId.ts"

/**
 * Stand-in authentication for tests of features below the users module:
 * the user id comes from an `x-test-user` header. Never part of a program.
 */
export const TestAuthenticationLive = Layer.succeed(Authentication, (httpEffect) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = Schema.decodeUnknownOption(UserId)(request.headers["x-test-user"])
    if (Option.isNone(id)) return yield* new Unauthorized({ message: "not signed in" })
    return yield* Effect.provideService(httpEffect, CurrentUser, {
      id: id.value,
      email: "test@example.com",
      role: "user"
    })
  })
)
