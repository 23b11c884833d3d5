import { Effect, Layer } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { Forbidden } from "../contract/http/ApiErrors.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"

/** The refusal of a signed-in user who is not an admin. */
export const notAdmin = () => new Forbidden({ message: "this endpoint is for administrators" })

/** Fails with 403 unless the current user is an admin; for handlers outside an AdminOnly group. */
export const requireAdmin = CurrentUser.use((user) => (user.role === "admin" ? Effect.void : Effect.fail(notAdmin())))

/**
 * Admin-only endpoints: apply after Authentication, e.g.
 * `HttpApiGroup.make("ops").add(...).middleware(AdminOnly).middleware(Authentication)`
 * (the middleware added last runs first, so Authentication provides the
 * CurrentUser this one checks). A non-admin gets 403: the endpoint is not a
 * resource of another user, it is closed to their role.
 */
export class AdminOnly extends HttpApiMiddleware.Service<AdminOnly, { requires: CurrentUser }>()(
  "mail-helper/AdminOnly",
  { error: Forbidden }
) {}

export const AdminOnlyLive = Layer.succeed(AdminOnly, (httpEffect) => Effect.andThen(requireAdmin, httpEffect))
