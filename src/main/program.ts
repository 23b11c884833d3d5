import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AppConfig } from "../platform/Config.ts"
import { migrateAsOwner } from "../platform/Database.ts"
import { LoggingLive } from "../platform/Logging.ts"
import { TelemetryLive } from "../platform/Telemetry.ts"
import { PlatformLive } from "./layers.ts"

/** Migrates first when MIGRATE_ON_START is set (or always, for `start`). */
export const MigrateOnStart = (always: boolean) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const config = yield* AppConfig
      if (always || config.migrateOnStart) yield* migrateAsOwner
    })
  )

/**
 * Runs a program layer until SIGINT/SIGTERM, with configuration, logging,
 * tracing, PostgreSQL and Redis underneath; finalizers run on the way out.
 */
export const launch = <E>(
  program: string,
  app: Layer.Layer<never, E, Layer.Success<typeof PlatformLive>>,
  options: { readonly migrate: boolean }
) =>
  Layer.launch(
    app.pipe(
      Layer.provide(MigrateOnStart(options.migrate)),
      Layer.provide(TelemetryLive(program)),
      Layer.provideMerge(PlatformLive),
      Layer.provide(LoggingLive.pipe(Layer.provide(AppConfig.layer)))
    )
  ).pipe(NodeRuntime.runMain)
