import { Context, Layer } from "effect"
import type { AnyJobKind } from "./JobKind.ts"

/** The job kinds this installation knows, in one place (queues, workers, inspection). */
export class JobKinds extends Context.Service<
  JobKinds,
  { readonly all: ReadonlyArray<AnyJobKind>; readonly get: (name: string) => AnyJobKind | undefined }
>()("mail-helper/JobKinds") {
  static readonly layer = (kinds: ReadonlyArray<AnyJobKind>) => {
    const byName = new Map(kinds.map((kind) => [kind.name, kind]))
    if (byName.size !== kinds.length) throw new Error("two job kinds share a name")
    return Layer.succeed(JobKinds, JobKinds.of({ all: kinds, get: (name) => byName.get(name) }))
  }
}
