import { Context, Layer } from "effect"
import type { AnyJobKind } from "../contract/jobs/JobKind.ts"
import { checkTimeLimits } from "./SoftTimeLimit.ts"

/** The job kinds this installation knows, in one place (queues, workers, inspection). */
export class JobKinds extends Context.Service<
  JobKinds,
  { readonly all: ReadonlyArray<AnyJobKind>; readonly get: (name: string) => AnyJobKind | undefined }
>()("mail-helper/JobKinds") {
  static readonly layer = (kinds: ReadonlyArray<AnyJobKind>) => {
    const byName = new Map(kinds.map((kind) => [kind.name, kind]))
    if (byName.size !== kinds.length) throw new Error("two job kinds share a name")
    // a soft time limit at or after the hard one: a defect at start-up, naming the kind
    checkTimeLimits(kinds)
    return Layer.succeed(JobKinds, JobKinds.of({ all: kinds, get: (name) => byName.get(name) }))
  }
}
