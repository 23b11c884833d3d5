import { Config, Console, Effect, Option, Redacted } from "effect"
import { Argument, Command, Flag, Prompt } from "effect/cli"
import { text } from "node:stream/consumers"
import { Auth } from "./Auth.ts"
import { AuthConfig } from "./AuthConfig.ts"
import { normaliseEmail, UserStore } from "./UserStore.ts"

/**
 * The first line of standard input, for a password piped in (`printf '%s\n' "$PW" | cli users create ...`)
 * where there is no terminal to ask on (CI, provisioning, `docker exec` without -t).
 */
const passwordFromStdin = Effect.tryPromise({
  try: () => text(process.stdin),
  catch: (error) =>
    `could not read the password from standard input: ${error instanceof Error ? error.message : String(error)}`
}).pipe(
  Effect.flatMap((input) => {
    const line = input.split(/\r?\n/, 1)[0] ?? ""
    return line.length === 0
      ? Effect.fail("no password on standard input: pipe it in, or set MAIL_HELPER_PASSWORD")
      : Effect.succeed(Redacted.make(line))
  })
)

/**
 * The password of a new user: MAIL_HELPER_PASSWORD when set (for scripts), else the first line of
 * standard input when that is not a terminal, otherwise asked twice on the terminal, hidden. Never a
 * command-line argument, which other local users could read from the process list.
 */
const newPassword = Effect.gen(function* () {
  const fromEnv = yield* Config.option(Config.Redacted("MAIL_HELPER_PASSWORD"))
  if (Option.isSome(fromEnv)) return fromEnv.value
  if (process.stdin.isTTY !== true) return yield* passwordFromStdin
  const first = yield* Prompt.run(Prompt.Password({ message: "Password" }))
  const second = yield* Prompt.run(Prompt.Password({ message: "Password (again)" }))
  if (Redacted.value(first) !== Redacted.value(second)) return yield* Effect.fail("the two passwords differ")
  return Redacted.make(String(Redacted.value(first)))
})

/** Creates a user from the operator's shell, whatever the registration mode; `admin` makes an administrator. */
export const createUser = (input: {
  readonly email: string
  readonly admin: boolean
  readonly password: Redacted.Redacted<string>
}) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    return yield* auth.createUser({
      email: input.email,
      password: input.password,
      role: input.admin ? "admin" : "user"
    })
  })

const byEmail = (email: string) =>
  Effect.gen(function* () {
    const users = yield* UserStore
    const found = yield* users.findByEmail(normaliseEmail(email))
    if (Option.isNone(found)) return yield* Effect.fail(`no user with email ${normaliseEmail(email)}`)
    return found.value
  })

/** Disables by email: sessions end now, tokens stop working. */
export const disableUser = (email: string) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const user = yield* byEmail(email)
    return yield* auth.disableUser(null, user.id)
  })

export const enableUser = (email: string) =>
  Effect.gen(function* () {
    const auth = yield* Auth
    const user = yield* byEmail(email)
    return yield* auth.enableUser(user.id)
  })

const report = (error: unknown) =>
  Effect.gen(function* () {
    const message =
      typeof error === "string"
        ? error
        : typeof error === "object" && error !== null && "message" in error
          ? String(error.message)
          : "failed"
    yield* Console.error(`error: ${message}`)
    return yield* Effect.sync(() => {
      process.exitCode = 1
    })
  })

const emailArgument = Argument.String("email").pipe(Argument.withDescription("the user's email"))

const create = Command.make(
  "create",
  {
    email: emailArgument,
    admin: Flag.Boolean("admin").pipe(Flag.withDescription("make the user an administrator"), Flag.withDefault(false))
  },
  ({ email, admin }) =>
    Effect.gen(function* () {
      const password = yield* newPassword
      const user = yield* createUser({ email, admin, password })
      yield* Console.log(`created ${user.role} ${user.email} (${user.id})`)
      yield* Console.log(signInHelp(user.email, (yield* AuthConfig).publicOrigins[0]))
    }).pipe(Effect.catch(report))
).pipe(
  Command.withDescription(
    "Create a user (the password comes from MAIL_HELPER_PASSWORD, else standard input when it is not a terminal, else a prompt)"
  )
)

/** How the new user signs in: the web app and the API (never the password itself). */
const signInHelp = (email: string, origin = "http://localhost:3000") =>
  [
    `Sign in: ${origin}/sign-in as ${email}`,
    "Or with curl (session cookie in cookies.txt; then create an API token for scripts):",
    `  curl -c cookies.txt -H 'content-type: application/json' -d '{"email":"${email}","password":"…"}' ${origin}/api/v1/auth/login`
  ].join("\n")

const list = Command.make(
  "list",
  { json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON"), Flag.withDefault(false)) },
  ({ json }) =>
    Effect.gen(function* () {
      const users = yield* UserStore
      const rows: Array<Record<string, unknown>> = []
      let after: string | undefined
      do {
        const page = yield* users.list({ limit: 200, after })
        for (const user of page.items) {
          rows.push({ email: user.email, role: user.role, disabled: user.disabled, id: user.id })
        }
        after = page.nextCursor ?? undefined
      } while (after !== undefined)
      yield* json ? Console.log(JSON.stringify(rows, null, 2)) : Console.table(rows)
    }).pipe(Effect.catch(report))
).pipe(Command.withDescription("List users"))

const disable = Command.make("disable", { email: emailArgument }, ({ email }) =>
  disableUser(email).pipe(
    Effect.flatMap((user) => Console.log(`disabled ${user.email}; their sessions and tokens no longer work`)),
    Effect.catch(report)
  )
).pipe(Command.withDescription("Disable a user at once"))

const enable = Command.make("enable", { email: emailArgument }, ({ email }) =>
  enableUser(email).pipe(
    Effect.flatMap((user) => Console.log(`enabled ${user.email}`)),
    Effect.catch(report)
  )
).pipe(Command.withDescription("Enable a disabled user"))

const invite = Command.make(
  "invite",
  {
    email: Flag.String("email").pipe(Flag.withDescription("bind the invite to this email"), Flag.optional),
    days: Flag.Int("days").pipe(Flag.withDescription("days until it expires"), Flag.optional)
  },
  ({ email, days }) =>
    Effect.gen(function* () {
      const auth = yield* Auth
      const created = yield* auth.createInvite({
        createdBy: null,
        email: Option.getOrUndefined(email),
        days: Option.getOrUndefined(days)
      })
      yield* Console.log(`invite code (shown once): ${Redacted.value(created.code)}`)
      yield* Console.log(`expires ${created.expiresAt.toISOString()}`)
    }).pipe(Effect.catch(report))
).pipe(Command.withDescription("Issue a single-use registration invite code"))

/**
 * `users create|list|disable|enable|invite`. Mount it in the CLI with its
 * services: `UsersCommand.pipe(Command.provide(UsersLive))`.
 */
export const UsersCommand = Command.make("users").pipe(
  Command.withDescription("Manage users"),
  Command.withSubcommands([create, list, disable, enable, invite])
)
