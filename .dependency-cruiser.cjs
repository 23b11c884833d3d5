/**
 * Which folder of src/ may import which (`npm run check:imports`, run by .ci/run). The layering,
 * lowest first (docs/CONVENTIONS.md has the diagram):
 *
 *   contract   HTTP API groups, job kinds, view and error schemas: effect and itself only
 *   platform   configuration, database, Redis, metrics, crypto: no feature folder
 *   http       server-side HTTP helpers (error mapping, JSON errors, limits): platform, contract
 *   users      identity, sessions, authorisation: the above
 *   events     the user event bus (Redis streams, SSE fan-out): platform, contract
 *   jobs       the job system: the above, users and events
 *   pipeline   the mail pipeline's announcements (MailFollowUps): contract only
 *   imap       the IMAP client: platform, contract
 *   webapp     serves the built web app (web/): platform, http, contract
 *   features   accounts < sync < watch < analysis < search < emails < rules < webhooks < import < admin < debug
 *              < health < ops:
 *              the base folders above and the features before them in that order
 *   main       the programs' composition: everything; nothing imports main
 *
 * No cycles at all, also inside a folder. `.dependency-cruiser-known-violations.json` lists the
 * violations present when the check was introduced; a new one fails the check.
 */
const base = ["contract", "platform", "http", "users", "events", "jobs", "pipeline", "imap"]
const features = [
  "accounts",
  "sync",
  "watch",
  "analysis",
  "search",
  "emails",
  "rules",
  "webhooks",
  "import",
  "admin",
  "debug",
  "health",
  "ops"
]

const folders = (names) => `^src/(${names.join("|")})/`

/** A folder's own files, the folders it may import, and effect and the other npm packages. */
const onlyImports = (name, allowed, comment) => ({
  name: `${name}-imports-only-below`,
  comment,
  severity: "error",
  from: { path: `^src/${name}/` },
  to: { path: "^src/", pathNot: folders([name, ...allowed]) }
})

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "Modules import each other in a circle: one of them has to move down or take what it needs as a service.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true }
    },
    {
      name: "contract-imports-only-effect",
      comment:
        "A contract is loaded by the browser and by typed clients: it imports effect and other contract modules only (a rule's regex check is declared here as a service; the server provides it with re2js, src/rules/regex.ts).",
      severity: "error",
      from: { path: "^src/contract/" },
      to: { pathNot: ["^src/contract/", "(^|/)node_modules/effect/", "^effect(/|$)"] }
    },
    onlyImports("platform", ["contract"], "The platform knows no feature."),
    onlyImports("http", ["platform", "contract"], "Server-side HTTP helpers shared by the features' handlers."),
    onlyImports("users", ["platform", "contract", "http"], "Identity and authorisation sit below every feature."),
    onlyImports("events", ["platform", "contract"], "The event bus carries the contract's user events; it knows no feature."),
    onlyImports("jobs", ["platform", "contract", "http", "users", "events"], "The job system knows no feature's jobs."),
    onlyImports(
      "pipeline",
      ["contract"],
      "The pipeline's announcements: each stage announces, src/main decides what runs next."
    ),
    onlyImports("imap", ["platform", "contract"], "The IMAP client is used by accounts, sync and rules."),
    onlyImports("webapp", ["platform", "http", "contract"], "Serves the built web app (web/); knows no feature."),
    ...features.map((feature, index) =>
      onlyImports(
        feature,
        [...base, ...features.slice(0, index)],
        `Features import the base folders and the features before them: ${features.join(" < ")}.`
      )
    ),
    {
      name: "every-folder-has-a-place",
      comment: "A new folder of src/ gets its place in this file (and docs/CONVENTIONS.md) before it imports anything of src/.",
      severity: "error",
      from: { path: "^src/", pathNot: folders([...base, "webapp", ...features, "main"]) },
      to: { path: "^src/" }
    },
    {
      name: "only-main-imports-main",
      comment: "src/main composes the programs; nothing below it may import it.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/main/" },
      to: { path: "^src/main/" }
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that does not resolve is a broken build or a check that cannot see an edge.",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.md$" },
    // swc parses the sources: dependency-cruiser's TypeScript parser needs the compiler API, which
    // TypeScript 7.0 (the native compiler) does not ship. swc keeps type-only imports as edges (a type
    // import ties two folders together as much as a value import does) without tsPreCompilationDeps:
    // that option only selects the tsc parser, and with TypeScript 7.0 it merely raised the
    // "missing-tsc-transpiler" warning while swc read the files anyway (same 1617 edges with or
    // without it; test/main/importRules.test.ts checks files, type-only edges and no warning).
    parser: "swc",
    moduleSystems: ["es6"],
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "node", "default"],
      extensions: [".ts", ".js"]
    },
    reporterOptions: { text: { highlightFocused: true } }
  }
}
