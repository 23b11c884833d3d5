import react from "@vitejs/plugin-react"
import { fileURLToPath } from "node:url"
import { defineConfig, type Plugin } from "vite"

const root = fileURLToPath(new URL(".", import.meta.url))
const serverSources = fileURLToPath(new URL("../src/", import.meta.url))
const contractSources = fileURLToPath(new URL("../src/contract/", import.meta.url))

/**
 * The browser bundle may load the API contract (src/contract) and nothing else of the server: a
 * server module reached through it (directly or transitively) fails the build with its name. Nor
 * re2js (~45 KB gzip): rule regexes are checked by the server (src/rules/regex.ts provides the
 * contract's RegexSyntax), so the contract must not import it.
 */
const contractOnly: Plugin = {
  name: "mail-helper:contract-only",
  load(id) {
    if (id.startsWith(serverSources) && !id.startsWith(contractSources)) {
      throw new Error(`the web bundle reached server code outside src/contract: ${id.slice(serverSources.length - 4)}`)
    }
    if (id.includes("/node_modules/re2js/")) {
      throw new Error(`the web bundle reached re2js (the server's regex engine): ${id}`)
    }
    return null
  }
}

/** The module graph as the chunking sees it (rolldown's ChunkingContext). */
interface ModuleGraph {
  getModuleInfo(id: string): {
    readonly importedIds: ReadonlyArray<string>
    readonly dynamicallyImportedIds: ReadonlyArray<string>
  } | null
}

const webModule = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const mainModule = webModule("./src/main.tsx")
const appModule = webModule("./src/App.tsx")
const inboxPage = webModule("./src/pages/InboxPage.tsx")
/** The pages that show mail as the inbox does (its list, badges, category options, live activity). */
const mailPages = new Set([
  inboxPage,
  ...["Message", "Search", "Matrix"].map((page) => webModule(`./src/pages/${page}Page.tsx`))
])

/** The modules `from` reaches through static imports, itself included. */
const staticClosure = (graph: ModuleGraph, from: Iterable<string>): Set<string> => {
  const seen = new Set<string>()
  const stack = [...from]
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (seen.has(id)) continue
    seen.add(id)
    stack.push(...(graph.getModuleInfo(id)?.importedIds ?? []))
  }
  return seen
}

/**
 * The inbox page's code in two chunks beside the entry's, computed from the module graph once per
 * build: `InboxPage`, the page and what only the pages that show mail use (the list, the mail
 * components, their hooks), and `pages`, what the inbox shares with the other pages (useApiQuery,
 * ui.tsx, the event stream; ~2 KB gzip). Left to rolldown's automatic chunking these were 8 files (a
 * chunk per set of pages sharing them), each one more request on a first visit, which over HTTP/1.1's
 * 6 connections per host queued the entry's own scripts behind them. The message, search and matrix
 * pages load the InboxPage chunk with theirs (cached once the inbox ran); the others do not.
 */
const inboxChunkName = (() => {
  // per chunking pass (rolldown reuses its context object within one)
  const chunkOf = new WeakMap<ModuleGraph, ReadonlyMap<string, string>>()
  return (id: string, graph: ModuleGraph): string | null => {
    let chunks = chunkOf.get(graph)
    if (chunks === undefined) {
      const entry = staticClosure(graph, [mainModule])
      const otherPages = (graph.getModuleInfo(appModule)?.dynamicallyImportedIds ?? []).filter(
        (page) => !mailPages.has(page)
      )
      const shared = staticClosure(graph, otherPages)
      const assigned = new Map<string, string>()
      for (const module of staticClosure(graph, [inboxPage])) {
        if (!entry.has(module)) assigned.set(module, shared.has(module) ? "pages" : "InboxPage")
      }
      chunks = assigned
      chunkOf.set(graph, chunks)
    }
    return chunks.get(id) ?? null
  }
})()

/**
 * The web app: built from web/ into dist/web with content-hashed file names, which the API
 * serves at `/` (src/webapp). `npm run dev:web` proxies /api to a running API on :3000.
 */
export default defineConfig({
  root,
  base: "/",
  plugins: [contractOnly, react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    assetsDir: "assets",
    // the CSP forbids inline script; never inline the module preload polyfill
    modulePreload: { polyfill: false },
    // .vite/manifest.json: which files each page's chunk needs, so the API can announce the inbox's
    // with the HTML (src/webapp/WebApp.ts, Link: rel=modulepreload)
    manifest: true,
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // The libraries every screen needs are chunks of their own beside a small entry: the browser
        // fetches and compiles them in parallel (off the main thread, one stream each) instead of one
        // 500 KB script, and a change of the app's code leaves their cached files (and V8's code
        // cache of them) valid. bench/webapp.ts measures the first render.
        codeSplitting: {
          groups: [
            { name: "react", test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 3 },
            { name: "i18n", test: /node_modules[\\/](i18next|react-i18next)[\\/]/, priority: 2 },
            { name: "effect", test: /node_modules[\\/]effect[\\/]/, priority: 1 },
            // The contract of the first inbox's calls (auth, emails, accounts; web/src/api/client.ts
            // imports each API group's module on its first call) in one chunk beside the entry: as
            // lazy chunks they were ~14 small files, each one more request on a first visit. The
            // other groups stay lazy chunks of their own, evaluated when a page first calls them.
            {
              name: "contract",
              test: /[\\/]src[\\/]contract[\\/](makeApi\.ts|http[\\/]|users[\\/]|emails[\\/]|accounts[\\/]Accounts?(Api)?\.ts|jobs[\\/]Job\.ts|events[\\/]UserEvent\.ts)/,
              priority: 1
            },
            // the inbox page in one chunk (see inboxChunkName); only the modules named, not their
            // dependencies, which are the entry's and stay there
            { name: inboxChunkName, debugName: "inbox", priority: 0, includeDependenciesRecursively: false }
          ]
        }
      }
    }
  },
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:3000", changeOrigin: false } }
  }
})
