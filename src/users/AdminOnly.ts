import { Effect, Layer } from "effect"
import { AdminOnly } from "../contract/admin/AdminOnly.ts"
import { Forbidden } from "../contract/http/ApiErrors.ts"
import { CurrentUser } from "../contract/users/CurrentUser.ts"

/** The refusal of a signed-in user who is not an admin. */
export const notAdmin = () => new Forbidden({ message: "this endpoint is for administrators" })

/** Fails with 403 unless the current user is an admin; for handlers outside an AdminOnly group. */
export const requireAdmin = CurrentUser.use((user) => (user.role === "admin" ? Effect.void : Effect.fail(notAdmin())))

export const AdminOnlyLive = Layer.succeed(AdminOnly, (httpEffect) => Effect.andThen(requireAdmin, httpEffect))
