import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"

/** A command Redis ran, as MONITOR reports it: the name (lower case) and its arguments. */
export interface SeenCommand {
  readonly name: string
  readonly args: ReadonlyArray<string>
}

/**
 * Records, through MONITOR, the commands Redis runs while `during` runs that `keep` selects (other
 * tests share the server: select by this test's key prefix). Counts calls, not time. `during` may
 * be a function of the commands seen so far (to wait for one that MONITOR reports a moment late).
 */
export const recordRedisCommands = <A, E, R>(
  redisUrl: string,
  keep: (command: SeenCommand) => boolean,
  during: Effect.Effect<A, E, R> | ((seen: () => ReadonlyArray<SeenCommand>) => Effect.Effect<A, E, R>)
) =>
  Effect.acquireUseRelease(
    Effect.promise(async () => {
      const client = new IORedis(redisUrl, { lazyConnect: true })
      const monitor = await client.monitor()
      const seen: Array<SeenCommand> = []
      monitor.on("monitor", (_time: string, args: ReadonlyArray<string>) => {
        const [name, ...rest] = args
        if (name === undefined) return
        const command = { name: name.toLowerCase(), args: rest }
        if (keep(command)) seen.push(command)
      })
      return { client, monitor, seen }
    }),
    ({ seen }) =>
      Effect.map(Effect.isEffect(during) ? during : during(() => [...seen]), (result) => ({ result, seen: [...seen] })),
    ({ client, monitor }) =>
      Effect.promise(async () => {
        monitor.disconnect()
        client.disconnect()
      })
  )
