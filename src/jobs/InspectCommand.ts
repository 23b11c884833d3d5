import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { JobInspector } from "./JobInspector.ts"

const print = (value: unknown, json: boolean) =>
  json ? Console.log(JSON.stringify(value, null, 2)) : Array.isArray(value) ? Console.table(value) : Console.log(value)

/** `inspect active|stats|registered|workers`: what `celery inspect` gave, from BullMQ and the job records. */
export const InspectCommand = Command.make(
  "inspect",
  {
    what: Argument.Literals("what", ["active", "stats", "registered", "workers"]),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON instead of a table"), Flag.withDefault(false))
  },
  ({ what, json }) =>
    Effect.gen(function* () {
      const inspector = yield* JobInspector
      switch (what) {
        case "registered":
          return yield* print(yield* inspector.registered, json)
        case "stats":
          return yield* print(yield* inspector.stats, json)
        case "active":
          return yield* print(yield* inspector.active, json)
        case "workers":
          return yield* print(yield* inspector.workers, json)
      }
    })
).pipe(Command.withDescription("Show registered job kinds, queue statistics, active jobs or live workers"))
