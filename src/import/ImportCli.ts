import { Config, Console, Effect, Option, Redacted } from "effect"
import { Command, Flag, Prompt } from "effect/cli"
import { formatReport, runImport } from "./Importer.ts"
import { parseSource } from "./OldStore.ts"

/**
 * The user's master password of the old system: MAIL_HELPER_IMPORT_PASSWORD when set (scripts),
 * otherwise asked on the terminal without echo. Never a flag: a flag's value stays in the shell's
 * history and shows in the process list.
 */
const masterPassword = Effect.gen(function* () {
  const fromEnv = yield* Config.option(Config.Redacted("MAIL_HELPER_IMPORT_PASSWORD"))
  if (Option.isSome(fromEnv)) return fromEnv.value
  const typed = yield* Prompt.run(Prompt.Password({ message: "Master password of the old installation" }))
  return Redacted.make(String(Redacted.value(typed)))
})

const errorMessage = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : "import failed"

const kiMailHelper = Command.make(
  "ki-mail-helper",
  {
    from: Flag.String("from").pipe(
      Flag.withDescription("the old database: a SQLite file (emails.db) or a postgresql:// URL")
    ),
    user: Flag.String("user").pipe(Flag.withDescription("the user's email, here and in the old installation")),
    dryRun: Flag.Boolean("dry-run").pipe(
      Flag.withDescription("print what would be imported and what cannot be mapped; write nothing"),
      Flag.withDefault(false)
    )
  },
  ({ from, user, dryRun }) =>
    Effect.gen(function* () {
      const password = yield* masterPassword
      const report = yield* runImport({ source: parseSource(from), email: user, masterPassword: password, dryRun })
      yield* Console.log(formatReport(report))
    }).pipe(
      Effect.catch((error) =>
        Console.error(`error: ${errorMessage(error)}`).pipe(
          Effect.andThen(
            Effect.sync(() => {
              process.exitCode = 1
            })
          )
        )
      )
    )
).pipe(
  Command.withDescription(
    "Import accounts, rules, tags and corrections of one user from KI-Mail-Helper " +
      "(MAIL_HELPER_IMPORT_PASSWORD or a prompt gives their master password)"
  )
)

/** `import ki-mail-helper --from <file|url> --user <email> [--dry-run]`. */
export const ImportCommand = Command.make("import").pipe(
  Command.withDescription("Move in from another installation"),
  Command.withSubcommands([kiMailHelper])
)
