import { assert, describe, it as test, layer } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { inboxModulePreloads } from "../../src/webapp/WebApp.ts"
import { apiTestLayer } from "../harness/apiLayer.ts"
import { baseUrl, call, field } from "../harness/http.ts"

/**
 * The web app as the API serves it (src/webapp/WebApp.ts), over a stand-in build in a temporary
 * folder: index.html for app routes with the CSP, hashed assets cached for ever, and nothing of
 * the app answering for the server's own paths or for files that do not exist.
 */

const indexHtml = `<!doctype html><html><head><script type="module" src="/assets/index-AbC123.js"></script></head><body><div id="root"></div></body></html>`
const script = `console.log("app");${" ".repeat(4000)}`

/**
 * Vite's manifest of a build whose entry and inbox page share a chunk: the inbox page's own chunks
 * (and its CSS) are announced with `/`, the shared one is the entry's (index.html preloads it).
 */
const manifest = {
  "index.html": { file: "assets/index-AbC123.js", isEntry: true, imports: ["_shared-S1.js"] },
  "_shared-S1.js": { file: "assets/shared-S1.js" },
  "_list-L1.js": { file: "assets/list-L1.js", imports: ["_shared-S1.js"], css: ["assets/list-L1.css"] },
  "src/pages/InboxPage.tsx": {
    file: "assets/InboxPage-I1.js",
    isDynamicEntry: true,
    imports: ["_shared-S1.js", "index.html", "_list-L1.js"]
  },
  "src/pages/RulesPage.tsx": { file: "assets/RulesPage-R1.js", isDynamicEntry: true, imports: ["_shared-S1.js"] }
}

const makeBuild = (dir: string) => {
  mkdirSync(join(dir, "assets"), { recursive: true })
  mkdirSync(join(dir, ".vite"), { recursive: true })
  writeFileSync(join(dir, ".vite", "manifest.json"), JSON.stringify(manifest))
  writeFileSync(join(dir, "index.html"), indexHtml)
  writeFileSync(join(dir, "assets", "index-AbC123.js"), script)
  writeFileSync(join(dir, "robots.txt"), "User-agent: *\n")
}

const builtDir = mkdtempSync(join(tmpdir(), "mh-web-"))
makeBuild(builtDir)

/** A request whose path is sent as written (fetch would normalise `..` away). */
const rawGet = (base: string, path: string) =>
  Effect.promise(
    () =>
      new Promise<{ status: number; contentType: string | undefined }>((resolve, reject) => {
        const url = new URL(base)
        const req = httpRequest({ host: url.hostname, port: url.port, path, method: "GET" }, (res) => {
          res.resume()
          res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"] }))
        })
        req.on("error", reject)
        req.end()
      })
  )

const assertAppHtml = (response: { status: number; headers: Headers; text: string }, path: string) => {
  assert.strictEqual(response.status, 200, `${path}: ${response.text}`)
  assert.match(response.headers.get("content-type") ?? "", /^text\/html/, path)
  assert.strictEqual(response.text, indexHtml, path)
  assert.strictEqual(response.headers.get("cache-control"), "no-cache", path)
  const csp = response.headers.get("content-security-policy") ?? ""
  for (const directive of ["script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'", "object-src 'none'"]) {
    assert.include(csp, directive, `${path}: ${csp}`)
  }
  const scriptSrc = csp.split(";").find((directive) => directive.trim().startsWith("script-src")) ?? ""
  assert.strictEqual(scriptSrc.trim(), "script-src 'self'", path)
  // no inline style either: the message frame's mail HTML carries none (WebApp.ts says why)
  const styleSrc = csp.split(";").find((directive) => directive.trim().startsWith("style-src")) ?? ""
  assert.strictEqual(styleSrc.trim(), "style-src 'self'", path)
  assert.notInclude(csp, "unsafe-eval", path)
  assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff", path)
}

layer(apiTestLayer({ WEB_DIST_DIR: builtDir }), { excludeTestServices: true, timeout: "60 seconds" })(
  "web app served by the API",
  (it) => {
    it.effect("answers `/` and every app route with index.html under a strict CSP, revalidated each time", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const path of ["/", "/messages/123", "/rules/new", "/accounts/abc?tab=edit", "/sign-in"]) {
          assertAppHtml(yield* call(base, "GET", path), path)
        }
      })
    )

    it.effect("announces the inbox page's code with `/` for a session, from the build's manifest", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const links = (response: { headers: Headers }) =>
          (response.headers.get("link") ?? "").split(",").map((link) => link.trim())
        const signedIn = links(yield* call(base, "GET", "/", { headers: { cookie: "mh_session=abc" } }))
        for (const expected of [
          "</assets/InboxPage-I1.js>; rel=modulepreload",
          "</assets/list-L1.js>; rel=modulepreload",
          // in the CORS mode of the <link rel=stylesheet crossorigin> Vite's lazy loader adds
          "</assets/list-L1.css>; rel=preload; as=style; crossorigin"
        ]) {
          assert.include(signedIn, expected, signedIn.join(" | "))
        }
        // the entry's chunks are index.html's to preload; other pages' code is not announced
        assert.isFalse(
          signedIn.some(
            (link) => link.includes("shared-S1") || link.includes("index-AbC123") || link.includes("RulesPage")
          )
        )
        // no session: the sign-in page comes first, so no inbox code
        const anonymous = links(yield* call(base, "GET", "/"))
        assert.isFalse(
          anonymous.some((link) => link.includes("modulepreload")),
          anonymous.join(" | ")
        )
        const otherRoute = links(yield* call(base, "GET", "/rules", { headers: { cookie: "mh_session=abc" } }))
        assert.isFalse(
          otherRoute.some((link) => link.includes("modulepreload")),
          otherRoute.join(" | ")
        )
      })
    )

    it.effect("serves hashed assets for a year, compressed when the client accepts gzip", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const asset = yield* call(base, "GET", "/assets/index-AbC123.js")
        assert.strictEqual(asset.status, 200)
        assert.strictEqual(asset.text, script)
        assert.match(asset.headers.get("content-type") ?? "", /^text\/javascript/)
        assert.strictEqual(asset.headers.get("cache-control"), "public, max-age=31536000, immutable")
        // fetch asks for gzip and unpacks it; the header shows what travelled
        assert.strictEqual(asset.headers.get("content-encoding"), "gzip")
        const unhashed = yield* call(base, "GET", "/robots.txt")
        assert.strictEqual(unhashed.status, 200)
        assert.strictEqual(unhashed.headers.get("cache-control"), "no-cache")
      })
    )

    it.effect("leaves the server's paths, unknown files and other methods as JSON errors, never the app", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const path of [
          "/api/v1/no-such-endpoint",
          "/api",
          "/docs/whatever",
          "/openapi.json/x",
          "/health/nope",
          "/metrics/x",
          "/assets/missing-123.js",
          "/favicon.ico",
          "/messages/1/image.png"
        ]) {
          const response = yield* call(base, "GET", path)
          assert.strictEqual(response.status, 404, `${path}: ${response.text}`)
          assert.strictEqual(field(response.body, "_tag"), "NotFound", path)
          assert.isNull(response.headers.get("content-security-policy"), path)
        }
        const post = yield* call(base, "POST", "/messages/1", { json: {} })
        assert.notStrictEqual(post.status, 200, post.text)
        assert.notInclude(post.text, "<html")
        // the API itself still answers
        const health = yield* call(base, "GET", "/health/live")
        assert.notStrictEqual(health.status, 404, health.text)
      })
    )

    it.effect("never reads outside the build folder, however the path is spelled", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const path of [
          "/../package.json",
          "/assets/../../package.json",
          "/%2e%2e/%2e%2e/package.json",
          "/assets/..%2f..%2fpackage.json",
          "/..%5c..%5cpackage.json"
        ]) {
          const response = yield* rawGet(base, path)
          assert.notStrictEqual(response.status, 200, path)
        }
      })
    )
  }
)

const lateDir = join(mkdtempSync(join(tmpdir(), "mh-web-late-")), "web")

layer(apiTestLayer({ WEB_DIST_DIR: lateDir }), { excludeTestServices: true, timeout: "60 seconds" })(
  "web app not built",
  (it) => {
    it.effect("says how to build it instead of failing, and serves the build once it appears", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const missing = yield* call(base, "GET", "/")
        assert.strictEqual(missing.status, 503, missing.text)
        assert.include(String(field(missing.body, "message")), "npm run build:web")
        makeBuild(lateDir)
        assertAppHtml(yield* call(base, "GET", "/inbox"), "/inbox after the build")
        rmSync(lateDir, { recursive: true, force: true })
      })
    )
  }
)

describe("the inbox page's announcement", () => {
  // web/vite.config.ts's inbox group puts the page in a chunk with the modules only it needs: the
  // manifest then keys that chunk by its file and names it InboxPage, with no entry for the page itself
  test("finds the inbox chunk by its group's name when the page is no chunk of its own", () => {
    const grouped = {
      "index.html": { file: "assets/index-AbC123.js", isEntry: true, imports: ["_shared-S1.js"] },
      "_shared-S1.js": { file: "assets/shared-S1.js" },
      "_ui-U1.js": { file: "assets/ui-U1.js" },
      "_InboxPage-G1.js": {
        file: "assets/InboxPage-G1.js",
        name: "InboxPage",
        imports: ["_shared-S1.js", "index.html", "_ui-U1.js"],
        css: ["assets/InboxPage-G1.css"]
      },
      "_InboxPage-G1.css": { file: "assets/InboxPage-G1.css", src: "_InboxPage-G1.css" }
    }
    assert.deepStrictEqual(inboxModulePreloads(JSON.stringify(grouped)).split(", "), [
      "</assets/InboxPage-G1.js>; rel=modulepreload",
      "</assets/ui-U1.js>; rel=modulepreload",
      "</assets/InboxPage-G1.css>; rel=preload; as=style; crossorigin"
    ])
  })
})
