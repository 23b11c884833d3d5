import { assert, layer } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { jobKinds } from "../../src/contract/jobs/catalog.ts"
import { createUser } from "../../src/users/UsersCli.ts"
import { baseUrl, call, field } from "../harness/http.ts"
import {
  apiTestLayer,
  freshEmail,
  login,
  sessionCookieOf,
  signUp,
  strongPassword,
  withCookie,
  withToken
} from "../users/helpers.ts"

const ui = "/admin/queues/ui"

/** An admin created the way an operator does (the CLI), signed in; returns its cookie and a bearer token. */
const signUpAdmin = (base: string) =>
  Effect.gen(function* () {
    const email = freshEmail("admin")
    yield* createUser({ email, admin: true, password: Redacted.make(strongPassword) }).pipe(Effect.orDie)
    const signedIn = yield* login(base, email)
    assert.strictEqual(signedIn.status, 200, signedIn.text)
    const cookie = sessionCookieOf(signedIn)
    const created = yield* call(base, "POST", "/api/v1/auth/tokens", withCookie(cookie, { json: { name: "ops" } }))
    assert.strictEqual(created.status, 201, created.text)
    return { cookie, token: String(field(created.body, "token")) }
  })

const queueNames = (body: unknown): Array<string> => {
  const queues = field(body, "queues")
  return Array.isArray(queues) ? queues.map((queue) => String(field(queue, "name"))).sort() : []
}

const registered = jobKinds.map((kind) => kind.name).sort()

layer(apiTestLayer(), { excludeTestServices: true, timeout: "60 seconds" })(
  "queue dashboard (read-only, default)",
  (it) => {
    it.effect("refuses anonymous users (401) and signed-in non-admins (403), by cookie and by token", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        // an admin first: in open registration the first user to sign up would become one
        yield* signUpAdmin(base)
        const user = yield* signUp(base, "plain")
        for (const path of [ui, `${ui}/`, `${ui}/api/queues`, `${ui}/queue/debug.ping`]) {
          const anonymous = yield* call(base, "GET", path)
          assert.strictEqual(anonymous.status, 401, `${path}: ${anonymous.text}`)
          assert.strictEqual(field(anonymous.body, "_tag"), "Unauthorized")
          const byToken = yield* call(base, "GET", path, withToken(user.token))
          assert.strictEqual(byToken.status, 403, `${path}: ${byToken.text}`)
          assert.strictEqual(field(byToken.body, "_tag"), "Forbidden")
          const byCookie = yield* call(base, "GET", path, withCookie(user.cookie))
          assert.strictEqual(byCookie.status, 403, `${path}: ${byCookie.text}`)
          // nothing of the board leaks into a refusal
          assert.notInclude(byCookie.text, "debug.ping")
        }
        const badToken = yield* call(base, "GET", `${ui}/api/queues`, withToken("mh_not_a_real_token"))
        assert.strictEqual(badToken.status, 401, badToken.text)
      })
    )

    it.effect("an admin gets the page, its assets, and every registered queue in the board's API", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUpAdmin(base)
        const page = yield* call(base, "GET", ui, withCookie(admin.cookie))
        assert.strictEqual(page.status, 200, page.text)
        assert.include(page.headers.get("content-type") ?? "", "text/html")
        assert.include(page.text, "mail-helper queues (read-only)")
        // the page's script comes from below the dashboard path, and is served to the admin
        const script = /src="([^"]+\.js)"/.exec(page.text)?.[1]
        assert.isDefined(script, page.text)
        // relative asset URLs resolve against the page's <base>, below the dashboard path
        const baseHref = /<base href="([^"]+)"/.exec(page.text)?.[1]
        assert.strictEqual(baseHref, `${ui}/`)
        const scriptPath = new URL(script ?? "", `${base}${baseHref ?? "/"}`).pathname
        assert.isTrue(scriptPath.startsWith(`${ui}/static/`), scriptPath)
        const asset = yield* call(base, "GET", scriptPath, withCookie(admin.cookie))
        assert.strictEqual(asset.status, 200, scriptPath)
        assert.isAbove(asset.text.length, 1000)
        assert.strictEqual((yield* call(base, "GET", scriptPath)).status, 401)

        // a job, so a queue has something to show
        const submitted = yield* call(base, "POST", "/api/v1/debug/ping", withToken(admin.token, { json: {} }))
        assert.strictEqual(submitted.status, 202, submitted.text)

        const queues = yield* call(
          base,
          "GET",
          `${ui}/api/queues?activeQueue=debug.ping&status=latest`,
          withToken(admin.token)
        )
        assert.strictEqual(queues.status, 200, queues.text)
        assert.deepStrictEqual(queueNames(queues.body), registered)
        const list = field(queues.body, "queues")
        assert.isTrue(Array.isArray(list))
        for (const queue of Array.isArray(list) ? list : []) {
          assert.strictEqual(field(queue, "readOnlyMode"), true, JSON.stringify(queue))
        }
        const ping = Array.isArray(list) ? list.find((queue) => field(queue, "name") === "debug.ping") : undefined
        const jobs = field(ping, "jobs")
        const jobIds = Array.isArray(jobs) ? jobs.map((job) => field(job, "id")) : []
        assert.include(jobIds, field(submitted.body, "jobId"), JSON.stringify(ping))
      })
    )

    it.effect("read-only: an admin's change is refused with 405 and the queue is untouched", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUpAdmin(base)
        const pause = yield* call(base, "PUT", `${ui}/api/queues/debug.ping/pause`, withToken(admin.token))
        assert.strictEqual(pause.status, 405, pause.text)
        const pauseAll = yield* call(base, "PUT", `${ui}/api/queues/pause`, withCookie(admin.cookie))
        assert.strictEqual(pauseAll.status, 405, pauseAll.text)
        const queues = yield* call(base, "GET", `${ui}/api/queues`, withToken(admin.token))
        const list = field(queues.body, "queues")
        for (const queue of Array.isArray(list) ? list : []) {
          assert.strictEqual(field(queue, "isPaused"), false, JSON.stringify(queue))
        }
      })
    )
  }
)

layer(apiTestLayer({ QUEUE_DASHBOARD_READ_ONLY: "false" }), { excludeTestServices: true, timeout: "60 seconds" })(
  "queue dashboard (write mode)",
  (it) => {
    it.effect("an admin may pause and resume a queue; a cookie request needs our Origin; users still get 403", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const admin = yield* signUpAdmin(base)
        const user = yield* signUp(base, "plain")
        const path = `${ui}/api/queues/debug.ping/pause`
        assert.strictEqual((yield* call(base, "PUT", path, withToken(user.token))).status, 403)
        // cross-site: a cookie without a matching Origin is refused (CSRF), before Bull Board sees it
        const crossSite = yield* call(base, "PUT", path, {
          headers: { cookie: admin.cookie, origin: "https://evil.example" }
        })
        assert.strictEqual(crossSite.status, 403, crossSite.text)
        const isPaused = Effect.map(call(base, "GET", `${ui}/api/queues`, withToken(admin.token)), (response) => {
          const list = field(response.body, "queues")
          const ping = Array.isArray(list) ? list.find((queue) => field(queue, "name") === "debug.ping") : undefined
          return field(ping, "isPaused")
        })
        assert.strictEqual(yield* isPaused, false)
        const paused = yield* call(base, "PUT", path, withCookie(admin.cookie))
        assert.strictEqual(paused.status, 200, paused.text)
        assert.strictEqual(yield* isPaused, true)
        const resumed = yield* call(base, "PUT", `${ui}/api/queues/debug.ping/resume`, withToken(admin.token))
        assert.strictEqual(resumed.status, 200, resumed.text)
        assert.strictEqual(yield* isPaused, false)
      })
    )
  }
)
