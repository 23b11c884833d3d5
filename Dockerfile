# syntax=docker/dockerfile:1.7
#
# mail-helper: one image for every program.
#
#   docker build -t mail-helper .
#   docker run ... mail-helper                                  # api (default CMD), web app at /
#   docker run ... mail-helper node --max-semi-space-size=4 --max-old-space-size=384 src/main/worker.ts   # worker (*)
#   docker run ... mail-helper node src/main/cli.ts migrate     # migrations (one-shot)
#   docker run ... mail-helper node src/main/start.ts           # api + worker in one process
#
#   (*) Heap flags, measured with bench/sync.ts (an initial sync of 10,000 messages, then the
#   analysis, embedding and full-text jobs it queues). A young generation of 3 x 4 MB instead of
#   V8's default: the worker allocates fast and briefly, and the default let the sync's peak RSS
#   reach about 590 MB against about 420 MB, at the same speed. A 384 MB old generation: below
#   1 GB V8 grows a heap by smaller steps after each full collection, so garbage (fetched
#   messages, query results) is collected sooner: the sync's peak fell from 407-426 to 342-348 MB
#   and the peak of the work after it from 560-570 to about 360 MB, for about 4 % more CPU. The
#   worker's heap is about 75 MB idle and was about 100 MB with 4 initial syncs at once (each
#   holds at most a few batches of SYNC_BATCH_BYTES); raise the cap with larger batches. A
#   worker that reaches it dies and its supervisor restarts it; its jobs are handed over.
#   glibc malloc (ENV below, every program): at most 2 arenas and a fixed 128 KB trim threshold,
#   so memory the worker freed after a sync goes back to the system instead of staying in
#   per-thread arenas: idle after a 3,000-message sync 287 -> 244 MB (docs/operations.md).
#
# How TypeScript runs in production (the choice, and why):
#   The npm scripts use tsx, which is a devDependency. Rather than ship all devDependencies
#   (tsx, esbuild, vitest, typescript, biome, and the `node` package that downloads a second
#   Node binary), the image runs the sources with Node 24's built-in type stripping:
#   `node src/main/api.ts`. This works because the code follows rules that make stripping
#   sufficient: local imports carry `.ts` extensions, `verbatimModuleSyntax` forces
#   `import type` for type-only imports, and there are no enums, namespaces or parameter
#   properties (erasable syntax only). Nothing is compiled, so there is no build output to
#   drift from the sources and stack traces point at the real files.
#   If the code ever needs a non-erasable construct, switch the runtime CMDs to tsx: install
#   all dependencies in the `deps` stage and prune with `npm prune --omit=dev` after adding
#   tsx to dependencies (or run `npx tsx`).

ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------------------------
# deps: production dependencies only (native addons come as prebuilt optional packages:
# @node-rs/argon2-linux-x64-gnu, @msgpackr-extract/*, @koromix/koffi-linux-x64 for the worker's idle
# malloc_trim (src/platform/IdleMemory.ts); no compiler needed).
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
# web: the browser app (web/ -> dist/web), built with the dev dependencies (vite, react plugin),
# none of which reach the runtime image. Install scripts are skipped: the only one that matters
# here would download a second Node (the `node` package) that the image already has, so vite runs
# on the image's node directly rather than through npm's PATH.
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund
COPY web ./web
COPY src/contract ./src/contract
RUN node node_modules/vite/bin/vite.js build --config web/vite.config.ts

# ---------------------------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM to node (which runs the graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 mailhelper \
 && useradd --system --uid 10001 --gid mailhelper --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin mailhelper

WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    WORKER_METRICS_PORT=9464 \
    LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=131072

# Code and dependencies stay owned by root and read-only for the service user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY migrations ./migrations
COPY src ./src
COPY --from=web /app/dist/web ./dist/web
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs

USER 10001:10001
EXPOSE 3000 9464

# Liveness of the api (GET /health/live). For the worker set HEALTHCHECK_URL, e.g.
# http://127.0.0.1:9464/metrics (docker-compose.yml does), or disable the check.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs"]

# SIGTERM: the programs stop taking work and finish within SHUTDOWN_GRACE_SECONDS (30 by
# default); give them more than that (compose: stop_grace_period 45s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "src/main/api.ts"]
