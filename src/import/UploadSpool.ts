import { mkdtemp, open, readFile, rm } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Schema, type Scope, Stream } from "effect"

/** The temporary file of an upload could not be created, written or read (disk full, permissions). */
export class UploadSpoolFailed extends Schema.TaggedError<UploadSpoolFailed>()("UploadSpoolFailed", {
  message: Schema.String
}) {}

/** The body went past the cap; `limit` is the cap in bytes. */
export class UploadTooLarge extends Schema.TaggedError<UploadTooLarge>()("UploadTooLarge", {
  message: Schema.String,
  limit: Schema.Number
}) {}

/** The body ended early or broke off (the client hung up). */
export class UploadBroken extends Schema.TaggedError<UploadBroken>()("UploadBroken", {
  message: Schema.String
}) {}

const failed = (what: string, dir: string) => (cause: unknown) =>
  new UploadSpoolFailed({
    message: `${what} in ${dir} failed: ${cause instanceof Error ? cause.message : String(cause)}`
  })

export interface SpooledUpload {
  readonly size: number
  /** The whole file; read only once the body has arrived in full and within the cap. */
  readonly read: Effect.Effect<Uint8Array, UploadSpoolFailed>
}

/**
 * Writes an upload's body to a file of its own directory under `dir`, chunk by chunk, so a slow
 * upload holds no more memory than one chunk; one byte past `maxBytes` stops reading (UploadTooLarge).
 * The directory is deleted when the scope closes, whatever ended it: success, a refusal, or the
 * request's fiber interrupted because the client hung up.
 */
export const spoolUpload = <E>(
  body: Stream.Stream<Uint8Array, E>,
  options: { readonly dir: string; readonly maxBytes: number }
): Effect.Effect<SpooledUpload, UploadSpoolFailed | UploadTooLarge | UploadBroken, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => mkdtemp(join(options.dir, "mail-helper-upload-")),
        catch: failed("creating the upload's temporary directory", options.dir)
      }),
      // force: nothing to delete is fine; any other failure is logged, the response is not the place
      (created) =>
        Effect.tryPromise(() => rm(created, { recursive: true, force: true })).pipe(
          Effect.catch((error) => Effect.logWarning("could not delete an upload's temporary directory", created, error))
        )
    )
    const path = join(dir, "upload")
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => open(path, "wx", 0o600), catch: failed("creating the upload's file", dir) }),
      (opened) =>
        Effect.tryPromise(() => opened.close()).pipe(
          Effect.catch((error) => Effect.logWarning("could not close an upload's temporary file", path, error))
        )
    )
    let size = 0
    yield* body.pipe(
      Stream.mapError(() => new UploadBroken({ message: "the upload could not be read to its end" })),
      Stream.runForEach((chunk): Effect.Effect<void, UploadTooLarge | UploadSpoolFailed> => {
        size += chunk.length
        if (size > options.maxBytes) {
          return Effect.fail(
            new UploadTooLarge({
              message: `the upload is larger than ${options.maxBytes} bytes`,
              limit: options.maxBytes
            })
          )
        }
        return Effect.tryPromise({ try: () => handle.write(chunk), catch: failed("writing the upload", dir) }).pipe(
          Effect.asVoid
        )
      })
    )
    return {
      size,
      read: Effect.tryPromise({ try: () => readFile(path), catch: failed("reading the upload back", dir) })
    }
  })
