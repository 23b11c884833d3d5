import { Config, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { extname, join, relative, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"

/**
 * The web app (web/, built by `npm run build:web` into dist/web), served at `/` by the API:
 * hashed files under /assets/ are cached for a year, index.html is revalidated every time and is
 * answered for every app route (a reload or a shared link of /messages/123 opens the app there).
 * Paths that belong to the server (/api, /docs, /admin/queues, /openapi.json, /metrics, /health) and
 * file-looking paths that do not exist stay 404s (JSON, by JsonErrors) instead of becoming HTML.
 */

const defaultDistDir = fileURLToPath(new URL("../../dist/web", import.meta.url))

export const webAppConfig = Config.all({
  distDir: Config.String("WEB_DIST_DIR").pipe(Config.withDefault(defaultDistDir))
})

/**
 * The HTML's policy: scripts from this origin only (the build inlines none; no eval), styles from
 * this origin only (the build's CSS files; React's `style` props go through the CSSOM, which CSP does
 * not govern), API calls to this origin, no framing of the app by other sites, no plugins, no
 * <base>, forms only to here.
 *
 * The message page shows a mail's sanitised HTML in a sandboxed `srcdoc` frame (no scripts, no
 * same origin) with its own, stricter CSP meta (web/src/pages/mail/messageFrame.ts); a srcdoc frame
 * also inherits this policy, and both must allow a load. Remote images the user chose to show come
 * from anywhere, so `img-src https: http:` is wider than the app needs. Styles are not: the
 * sanitiser (src/sync/htmlSanitizer.ts) keeps no `style` attribute or element, the frame strips them
 * again and its own policy says `style-src 'none'`, so `'unsafe-inline'` here would admit nothing
 * in the frame and only widen what an injection into the app could do (CSS-based exfiltration,
 * UI redressing). A per-response nonce or hash cannot help style attributes anyway.
 */
export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https: http:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'"
].join("; ")

/** Path prefixes the server answers itself; an unknown path under them is a 404, never the app. */
const serverPrefixes = ["/api", "/docs", "/admin/queues", "/openapi.json", "/metrics", "/health"]

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json"
}

const compressible = new Set([".html", ".js", ".mjs", ".css", ".json", ".svg", ".txt", ".map", ".webmanifest"])

interface StaticFile {
  readonly body: Uint8Array
  readonly gzip: Uint8Array | undefined
  readonly contentType: string
  readonly cacheControl: string
}

const immutable = "public, max-age=31536000, immutable"

/** Every file of the build, read once: the build is small, and a Map lookup cannot escape dist/web. */
const loadBuild = (distDir: string): ReadonlyMap<string, StaticFile> | undefined => {
  if (!statSync(join(distDir, "index.html"), { throwIfNoEntry: false })?.isFile()) return undefined
  const files = new Map<string, StaticFile>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) {
        walk(path)
        continue
      }
      if (!entry.isFile()) continue
      const urlPath = `/${relative(distDir, path).split(sep).join("/")}`
      const extension = extname(entry.name).toLowerCase()
      const body = readFileSync(path)
      files.set(urlPath, {
        body,
        gzip: compressible.has(extension) && body.byteLength > 1024 ? gzipSync(body) : undefined,
        contentType: contentTypes[extension] ?? "application/octet-stream",
        // Vite names everything under assets/ by its content hash, so a name never changes meaning
        cacheControl: urlPath.startsWith("/assets/") ? immutable : "no-cache"
      })
    }
  }
  walk(distDir)
  return files
}

const pathOf = (url: string): string => {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

const isServerPath = (path: string): boolean =>
  serverPrefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))

/** A last segment with an extension (`/favicon.ico`, `/assets/x.js`) is a file, never an app route. */
const looksLikeFile = (path: string): boolean => /\.[A-Za-z0-9]+$/.test(path.slice(path.lastIndexOf("/") + 1))

const securityHeaders = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin"
}

const respond = (file: StaticFile, request: HttpServerRequest.HttpServerRequest, extra: Record<string, string>) => {
  const acceptsGzip = /\bgzip\b/.test(request.headers["accept-encoding"] ?? "")
  const useGzip = file.gzip !== undefined && acceptsGzip
  return HttpServerResponse.uint8Array(useGzip && file.gzip !== undefined ? file.gzip : file.body, {
    contentType: file.contentType,
    headers: {
      ...securityHeaders,
      ...extra,
      "cache-control": file.cacheControl,
      ...(file.gzip !== undefined ? { vary: "Accept-Encoding" } : {}),
      ...(useGzip ? { "content-encoding": "gzip" } : {})
    }
  })
}

const notBuilt = (distDir: string) =>
  HttpServerResponse.text(
    `the web app is not built: run \`npm run build:web\` (it writes ${distDir}), then reload this page`,
    { status: 503, headers: { "cache-control": "no-store" } }
  )

/**
 * The first screen's API calls, announced with the HTML (`Link: rel=preload`) so the browser starts
 * them while it parses the page and evaluates the scripts, instead of after (~100-300 ms later):
 * the session check on every page, and on the inbox with no filters (`/`) the first page of mail
 * when the request carries a session cookie. The URLs are exactly what the web app asks for
 * (web/src/main.tsx: `client.auth.me()` and the inbox's first `client.emails.list`), so its fetch
 * takes the preloaded answer; test/web/app.test.ts checks that each is requested once.
 */
const sessionPreload = "</api/v1/auth/me>; rel=preload; as=fetch; crossorigin"
const inboxPreload = "</api/v1/emails?sort=score&limit=50>; rel=preload; as=fetch; crossorigin"
const hasSessionCookie = (cookie: string | undefined): boolean => /(?:^|;\s*)(?:__Host-)?mh_session=/.test(cookie ?? "")

/** The part of Vite's build manifest (`.vite/manifest.json`, `build.manifest`) read here. */
const BuildManifest = Schema.Record(
  Schema.String,
  Schema.Struct({
    file: Schema.String,
    name: Schema.optional(Schema.String),
    isEntry: Schema.optional(Schema.Boolean),
    imports: Schema.optional(Schema.Array(Schema.String)),
    css: Schema.optional(Schema.Array(Schema.String))
  })
)
const decodeBuildManifest = Schema.decodeUnknownSync(Schema.fromJsonString(BuildManifest))

/**
 * The inbox page in the manifest (web/src/App.tsx loads it lazily for `/`): the chunk of its module
 * when the page is a chunk of its own, else the chunk web/vite.config.ts's inbox group names
 * `InboxPage` (the page with the modules only it needs; the manifest keys such a chunk by its file).
 */
const inboxPageSource = "src/pages/InboxPage.tsx"
const inboxChunkName = "InboxPage"

type BuildManifest = typeof BuildManifest.Type
const inboxChunkKey = (manifest: BuildManifest): string | undefined =>
  manifest[inboxPageSource] !== undefined
    ? inboxPageSource
    : Object.keys(manifest).find((key) => manifest[key]?.name === inboxChunkName && key.endsWith(".js"))

/**
 * The inbox page's code, announced with the HTML for `/` (`rel=modulepreload`, and its CSS): the app
 * loads it lazily, so without this the browser asks for it only once the entry and the libraries
 * have run (~430 ms into a cold first visit, then one more round trip). Its chunk and every chunk it
 * imports, without those index.html already preloads (the entry's); empty without a manifest.
 */
export const inboxModulePreloads = (manifestText: string | undefined): string => {
  if (manifestText === undefined) return ""
  const manifest = decodeBuildManifest(manifestText)
  const entryFiles = new Set<string>()
  const collect = (key: string, into: Set<string>) => {
    const chunk = manifest[key]
    if (chunk === undefined || into.has(chunk.file)) return
    into.add(chunk.file)
    for (const imported of chunk.imports ?? []) collect(imported, into)
  }
  for (const [key, chunk] of Object.entries(manifest)) if (chunk.isEntry === true) collect(key, entryFiles)
  const inboxFiles = new Set<string>()
  const inboxKey = inboxChunkKey(manifest)
  if (inboxKey !== undefined) collect(inboxKey, inboxFiles)
  const scripts = [...inboxFiles].filter((file) => !entryFiles.has(file))
  const styles = [...inboxFiles].flatMap((file) =>
    Object.values(manifest).flatMap((chunk) => (chunk.file === file ? (chunk.css ?? []) : []))
  )
  return [
    ...scripts.map((file) => `</${file}>; rel=modulepreload`),
    // crossorigin: Vite's lazy loader adds the page's CSS as <link rel=stylesheet crossorigin>, a CORS
    // request; a preload in another mode is not reused (Chromium warns and fetches the file again)
    ...styles.map((file) => `</${file}>; rel=preload; as=style; crossorigin`)
  ].join(", ")
}

const preloadsFor = (url: string, cookie: string | undefined, inboxModules: string): string =>
  url === "/" && hasSessionCookie(cookie)
    ? [sessionPreload, inboxPreload, inboxModules].filter((link) => link !== "").join(", ")
    : sessionPreload

const indexModified = (distDir: string): number | undefined =>
  statSync(join(distDir, "index.html"), { throwIfNoEntry: false })?.mtimeMs

export const WebAppLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const router = yield* HttpRouter.HttpRouter
    const { distDir } = yield* webAppConfig
    // (re)read the build when index.html appears or changes: `npm run build:web` while the API runs
    // replaces every hashed name, and an old index.html would point at files that are gone
    let loaded:
      | { readonly modified: number; readonly files: ReadonlyMap<string, StaticFile>; readonly inboxModules: string }
      | undefined
    const current = Effect.gen(function* () {
      const modified = yield* Effect.try({
        try: () => indexModified(distDir),
        catch: (cause) => new Error(`cannot stat ${distDir}/index.html: ${String(cause)}`)
      })
      if (modified === undefined) return undefined
      if (loaded?.modified === modified) return loaded
      const files = yield* Effect.try({
        try: () => loadBuild(distDir),
        catch: (cause) => new Error(`cannot read the web build in ${distDir}: ${String(cause)}`)
      })
      if (files === undefined) {
        loaded = undefined
        return undefined
      }
      const manifest = files.get("/.vite/manifest.json")
      const inboxModules = yield* Effect.try({
        try: () => inboxModulePreloads(manifest === undefined ? undefined : new TextDecoder().decode(manifest.body)),
        catch: (cause) => new Error(`cannot read the web build's manifest in ${distDir}/.vite: ${String(cause)}`)
      }).pipe(
        // the app works without the announcement, only its first visit is slower
        Effect.catch((error) => Effect.as(Effect.logWarning(error.message), ""))
      )
      loaded = { modified, files, inboxModules }
      return loaded
    }).pipe(
      // a build being written right now: answer "not built" this once and say why in the log
      Effect.catch((error) => Effect.as(Effect.logWarning(error.message), undefined))
    )
    if ((yield* current) === undefined) {
      yield* Effect.logWarning(`web app not built (no ${distDir}/index.html): / explains how to build it`)
    }
    const handler = Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const path = pathOf(request.url)
      if (isServerPath(path)) return HttpServerResponse.empty({ status: 404 })
      const served = yield* current
      if (served === undefined) return notBuilt(distDir)
      const build = served.files
      const file = build.get(path)
      if (file !== undefined && path !== "/index.html") return respond(file, request, {})
      if (looksLikeFile(path) && path !== "/index.html") return HttpServerResponse.empty({ status: 404 })
      const index = build.get("/index.html")
      if (index === undefined) return notBuilt(distDir)
      return respond(index, request, {
        "content-security-policy": contentSecurityPolicy,
        link: preloadsFor(request.url, request.headers.cookie, served.inboxModules)
      })
    })
    yield* router.add("GET", "/", handler)
    yield* router.add("GET", "/*", handler)
  })
)
