import { Console, Effect } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { JobInspector } from "./JobInspector.ts"

/** What `inspect` can show, and what an empty answer says (instead of an empty table). */
const choices = {
  active: { shows: "jobs running now, with their worker and progress", empty: "no active jobs" },
  stats: { shows: "jobs per queue and state, and the workers consuming each queue", empty: "no queues" },
  registered: { shows: "the job kinds this version knows, with their limits", empty: "no registered job kinds" },
  workers: { shows: "live worker connections per queue", empty: "no live workers" },
  users: {
    shows: "per user: waiting and running jobs and the oldest wait",
    empty: "no user has jobs waiting or running"
  }
} as const
type Choice = keyof typeof choices
const names = ["active", "stats", "registered", "workers", "users"] as const satisfies ReadonlyArray<Choice>

const print = (what: Choice, rows: ReadonlyArray<unknown>, json: boolean) =>
  json
    ? Console.log(JSON.stringify(rows, null, 2))
    : rows.length === 0
      ? Console.log(choices[what].empty)
      : Console.table(rows)

/** `inspect active|stats|registered|workers`: what `celery inspect` gave, from BullMQ and the job records. */
export const InspectCommand = Command.make(
  "inspect",
  {
    what: Argument.Literals("what", names).pipe(
      Argument.withDescription(
        `one of ${names.join(", ")}: ${names.map((name) => `${name} = ${choices[name].shows}`).join("; ")}`
      )
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON instead of a table"), Flag.withDefault(false))
  },
  ({ what, json }) =>
    Effect.gen(function* () {
      const inspector = yield* JobInspector
      switch (what) {
        case "registered":
          return yield* print(what, yield* inspector.registered, json)
        case "stats":
          return yield* print(what, yield* inspector.stats, json)
        case "active":
          return yield* print(what, yield* inspector.active, json)
        case "workers":
          return yield* print(what, yield* inspector.workers, json)
        case "users":
          return yield* print(what, yield* inspector.users, json)
      }
    })
).pipe(
  Command.withDescription("Show registered job kinds, queue statistics, active jobs, live workers or per-user queues")
)
