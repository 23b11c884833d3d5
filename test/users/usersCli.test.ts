import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { ApiEnv, apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, field } from "../harness/http.ts"
import { freshEmail, login } from "./helpers.ts"

/**
 * `cli users create` without a terminal (CI, provisioning): the password comes from standard input
 * when it is a pipe, the command says how to sign in, and the password is never printed.
 */
interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const createUserWithStdin = (env: Record<string, string>, args: ReadonlyArray<string>, stdin: string) =>
  Effect.promise(
    () =>
      new Promise<CliRun>((resolve, reject) => {
        const childEnv: Record<string, string | undefined> = {
          ...process.env,
          ...env,
          LOG_LEVEL: "None",
          NO_COLOR: "1"
        }
        delete childEnv["MAIL_HELPER_PASSWORD"]
        const child = spawn(process.execPath, ["--import", "tsx", "src/main/cli.ts", "users", "create", ...args], {
          env: childEnv,
          stdio: ["pipe", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString("utf8")
        })
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8")
        })
        child.once("error", reject)
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
        child.stdin.end(stdin)
      })
  )

const password = "quiet lantern orbit 82 meadow"

layer(apiTestLayer({ PUBLIC_ORIGIN: "http://mail.example.test:8080" }), {
  excludeTestServices: true,
  timeout: "120 seconds"
})("cli users create without a terminal", (it) => {
  it.effect("reads the password from piped standard input and prints how to sign in", () =>
    Effect.gen(function* () {
      const { env } = yield* ApiEnv
      const base = yield* baseUrl
      const email = freshEmail("piped")
      const [created, empty] = yield* Effect.all(
        [
          createUserWithStdin(env, [email, "--admin"], `${password}\nignored second line\n`),
          createUserWithStdin(env, [freshEmail("empty")], "")
        ],
        { concurrency: 2 }
      )
      assert.strictEqual(created.code, 0, `${created.stdout}\n${created.stderr}`)
      assert.match(created.stdout, new RegExp(`created admin ${email.replace(/\./g, "\\.")}`))
      assert.include(created.stdout, `Sign in: http://mail.example.test:8080/sign-in as ${email}`)
      assert.include(created.stdout, "http://mail.example.test:8080/api/v1/auth/login")
      assert.notInclude(created.stdout + created.stderr, password)

      const signedIn = yield* login(base, email, password)
      assert.strictEqual(signedIn.status, 200, signedIn.text)
      assert.strictEqual(field(signedIn.body, "user", "role"), "admin")

      assert.strictEqual(empty.code, 1, `${empty.stdout}\n${empty.stderr}`)
      assert.include(empty.stderr, "no password on standard input")
    })
  )
})
