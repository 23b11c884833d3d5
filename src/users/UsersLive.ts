import { Layer } from "effect"
import { AdminOnlyLive } from "./AdminOnly.ts"
import { ApiTokenStore } from "./ApiTokenStore.ts"
import { Auth } from "./Auth.ts"
import { AuthConfig } from "./AuthConfig.ts"
import { AuthenticationLive } from "./AuthHttp.ts"
import { LoginThrottle } from "./LoginThrottle.ts"
import { Passwords } from "./Passwords.ts"
import { Sessions } from "./Sessions.ts"
import { UserLimitsStore } from "./UserLimitsStore.ts"
import { UserStore } from "./UserStore.ts"
import { UserScope } from "./UserScope.ts"

/** UserStore, sessions, tokens and throttling (needs SqlClient, Redis, AppConfig). */
export const UsersCoreLive = Layer.mergeAll(
  UserStore.layer,
  UserLimitsStore.layer,
  ApiTokenStore.layer,
  Sessions.layer,
  LoginThrottle.layer,
  Passwords.layer
).pipe(Layer.provideMerge(Layer.mergeAll(UserScope.layer, AuthConfig.layer)))

/**
 * Everything the auth and admin groups need, plus the Authentication and
 * AdminOnly middleware (needs SqlClient, Redis, AppConfig).
 */
export const UsersLive = Layer.mergeAll(Auth.layer, AuthenticationLive, AdminOnlyLive).pipe(
  Layer.provideMerge(UsersCoreLive)
)
