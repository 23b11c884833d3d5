import { HttpApiMiddleware } from "effect/http-api"
import { Forbidden } from "../http/ApiErrors.ts"
import type { CurrentUser } from "../users/CurrentUser.ts"

/**
 * Admin-only endpoints: apply after Authentication, e.g.
 * `HttpApiGroup.make("ops").add(...).middleware(AdminOnly).middleware(Authentication)`
 * (the middleware added last runs first, so Authentication provides the
 * CurrentUser this one checks). A non-admin gets 403: the endpoint is not a
 * resource of another user, it is closed to their role. The declaration only: the server's layer
 * is `AdminOnlyLive` in `src/admin/AdminOnly.ts`.
 */
export class AdminOnly extends HttpApiMiddleware.Service<AdminOnly, { requires: CurrentUser }>()(
  "mail-helper/AdminOnly",
  { error: Forbidden }
) {}
