import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { KeysCommand } from "../accounts/KeyRotation.ts"
import { ImportCommand } from "../import/ImportCli.ts"
import { ImportLive } from "../import/ImportLive.ts"
import { InspectCommand } from "../jobs/InspectCommand.ts"
import { JobInspector } from "../jobs/JobInspector.ts"
import { Crypto } from "../platform/Crypto.ts"
import { migrateAsOwner } from "../platform/Database.ts"
import { UsersCommand } from "../users/UsersCli.ts"
import { UsersLive } from "../users/UsersLive.ts"
import { EventsLive, JobsLive, PlatformLive } from "./layers.ts"

const MigrateCommand = Command.make("migrate", {}, () => migrateAsOwner).pipe(
  Command.withDescription("Apply pending database migrations")
)

const Inspect = InspectCommand.pipe(Command.provide(JobInspector.layer.pipe(Layer.provide(JobsLive))))

const Cli = Command.make("mail-helper").pipe(
  Command.withDescription("mail-helper administration"),
  Command.withSubcommands([
    MigrateCommand,
    Inspect,
    UsersCommand.pipe(Command.provide(UsersLive)),
    KeysCommand.pipe(Command.provide(Crypto.layer)),
    // the import announces the accounts it creates (account.changed)
    ImportCommand.pipe(Command.provide(Layer.merge(ImportLive, EventsLive)))
  ])
)

Command.run(Cli, { version: "0.1.0" }).pipe(
  Effect.provide(PlatformLive),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain
)
