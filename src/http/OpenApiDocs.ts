/**
 * The words of the served OpenAPI document (/openapi.json, /docs): a summary and a description for
 * every operation, and the two ways to authenticate.
 *
 * Why here and not as `OpenApi.annotations` on each endpoint in src/contract: the contract is also
 * the web app's bundle, and this text would ship to every browser on its first screen (the budget
 * is initial JavaScript). The table is typed by the contract: an endpoint without an entry, or an
 * entry for an endpoint that no longer exists, fails `tsc`.
 */
import { HttpApi, type HttpApiClient, OpenApi } from "effect/http-api"
import { Api } from "../contract/Api.ts"
import { Authentication } from "../contract/users/CurrentUser.ts"

export interface OperationDoc {
  /** One line, shown in the operation list. */
  readonly summary: string
  /** What it does, who may call it, what it answers. */
  readonly description: string
}

type ApiClient = HttpApiClient.ForApi<typeof Api>
export type OperationDocs = {
  readonly [Group in keyof ApiClient]: { readonly [Endpoint in keyof ApiClient[Group]]: OperationDoc }
}

/** Scheme names as the document declares them (`components.securitySchemes`). */
export const SecuritySchemeNames = { session: "sessionCookie", token: "bearerToken" } as const

const securitySchemes = {
  [SecuritySchemeNames.session]: {
    type: "apiKey",
    in: "cookie",
    name: "mh_session",
    description:
      "The session cookie set by POST /api/v1/auth/login (named `__Host-mh_session` when the API runs with" +
      " Secure cookies). Requests that change something (POST, PUT, PATCH, DELETE) with this cookie must come" +
      " from the application's own origin: they need an `Origin` header (or `Sec-Fetch-Site`/`Referer`) naming" +
      " one of PUBLIC_ORIGIN, else they are refused with 403. Browsers send it by themselves; scripts should use" +
      " a bearer token instead."
  },
  [SecuritySchemeNames.token]: {
    type: "http",
    scheme: "bearer",
    description:
      "An API token (`mh_…`) created with POST /api/v1/auth/tokens, sent as `Authorization: Bearer <token>`." +
      " Its scopes limit it: `read` for GET/HEAD, `write` for every other method, `admin` to act as an administrator."
  }
} as const

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** `group.endpoint` (the generator's operationId) of every endpoint behind the Authentication middleware. */
const authenticatedOperations = (): ReadonlySet<string> => {
  const ids = new Set<string>()
  HttpApi.reflect(Api, {
    onGroup: () => undefined,
    onEndpoint: ({ group, endpoint, middleware }) => {
      if ([...middleware].some((service) => service.key === Authentication.key))
        ids.add(`${group.identifier}.${endpoint.identifier}`)
    }
  })
  return ids
}

/**
 * Puts the table's words on every operation, declares the security schemes, and marks every
 * operation behind the Authentication middleware as needing one of them.
 */
export const documentOpenApi =
  (docs: OperationDocs) =>
  (spec: Record<string, unknown>): Record<string, unknown> => {
    const authenticated = authenticatedOperations()
    const byOperationId = new Map<string, OperationDoc>()
    for (const [group, endpoints] of Object.entries(docs)) {
      for (const [endpoint, doc] of Object.entries<OperationDoc>(endpoints))
        byOperationId.set(`${group}.${endpoint}`, doc)
    }
    const paths: Record<string, unknown> = {}
    for (const [path, item] of Object.entries(isRecord(spec["paths"]) ? spec["paths"] : {})) {
      if (!isRecord(item)) {
        paths[path] = item
        continue
      }
      const operations: Record<string, unknown> = {}
      for (const [method, operation] of Object.entries(item)) {
        if (!isRecord(operation) || typeof operation["operationId"] !== "string") {
          operations[method] = operation
          continue
        }
        const doc = byOperationId.get(operation["operationId"])
        operations[method] = {
          ...operation,
          ...(doc === undefined ? {} : { summary: doc.summary, description: doc.description }),
          ...(authenticated.has(operation["operationId"])
            ? { security: [{ [SecuritySchemeNames.session]: [] }, { [SecuritySchemeNames.token]: [] }] }
            : {})
        }
      }
      paths[path] = operations
    }
    const components = isRecord(spec["components"]) ? spec["components"] : {}
    return { ...spec, paths, components: { ...components, securitySchemes } }
  }

const operationDocs: OperationDocs = {
  health: {
    live: {
      summary: "Liveness",
      description: "Answers 200 while the process runs. Needs no credentials; for container health checks."
    },
    ready: {
      summary: "Readiness",
      description: "200 when PostgreSQL and Redis answer, else 503 naming what is down. Needs no credentials."
    }
  },
  jobs: {
    list: {
      summary: "List your jobs",
      description:
        "Your background jobs (sync, analysis, rules runs, ...), newest first, filterable by state, paged by cursor."
    },
    get: { summary: "Show a job", description: "One of your jobs: its kind, state, progress, result or error." },
    cancel: {
      summary: "Cancel a job",
      description: "Asks a queued or running job to stop (202). A job that has already finished answers 409."
    },
    events: {
      summary: "Follow a job (Server-Sent Events)",
      description: "A `text/event-stream` of the job's state and progress; it ends when the job has finished."
    }
  },
  debug: {
    ping: {
      summary: "Queue a test job",
      description: "Queues a `debug.ping` job that waits the given time: checks that workers run. Only when enabled."
    }
  },
  auth: {
    me: { summary: "Who am I", description: "The signed-in user, the role this request acts with and its scopes." },
    createToken: {
      summary: "Create an API token",
      description: "Creates a bearer token with the given scopes and lifetime. The secret is in this answer only."
    },
    listTokens: {
      summary: "List your API tokens",
      description: "Your tokens (never their secrets), with scopes and expiry."
    },
    revokeToken: { summary: "Revoke an API token", description: "The token stops working at once (204)." },
    listSessions: {
      summary: "List your sessions",
      description:
        "Your signed-in browsers: user agent, sign-in time, last use, expiry and which one made this request." +
        " The id is a prefix of the hash the server stores, never the cookie."
    },
    revokeSession: {
      summary: "End a session",
      description: "Signs that browser out at once (204); 404 for an id that is not one of your sessions."
    },
    register: {
      summary: "Register",
      description:
        "Creates a user (201). Depending on REGISTRATION_MODE registration is open, needs an invite code, or is closed (403)."
    },
    login: {
      summary: "Sign in",
      description: "Checks email and password and sets the session cookie. Repeated failures are throttled (429)."
    },
    logout: { summary: "Sign out", description: "Ends the session of the cookie sent and clears the cookie (204)." }
  },
  admin: {
    listUsers: { summary: "List users", description: "Every user with role and state. Administrators only." },
    disableUser: {
      summary: "Disable a user",
      description: "The user can no longer sign in; their sessions and tokens stop working. Administrators only."
    },
    enableUser: { summary: "Enable a user", description: "Lets a disabled user sign in again. Administrators only." },
    createInvite: {
      summary: "Create an invite",
      description: "An invite code for registration when REGISTRATION_MODE is `invite`. Administrators only."
    },
    getTokenBudget: {
      summary: "Show a user's AI token budget",
      description:
        "The user's daily AI token budget (override, AI_DAILY_TOKEN_BUDGET default) and today's use. Administrators only."
    },
    setTokenBudget: {
      summary: "Set a user's AI token budget",
      description:
        "Overrides the daily AI token budget of the user; `null` goes back to the default. Administrators only."
    },
    getImapConnections: {
      summary: "Show a user's IMAP connection cap",
      description:
        "Simultaneous IMAP connections allowed per account of the user (override, IMAP_MAX_CONNECTIONS_PER_ACCOUNT default). Administrators only."
    },
    setImapConnections: {
      summary: "Set a user's IMAP connection cap",
      description:
        "Overrides the simultaneous IMAP connections per account for all of the user's accounts; `null` goes back to the default. Administrators only."
    },
    listInvites: {
      summary: "List invites",
      description:
        "Every invite, newest first, with its state (pending, used, expired, revoked); never the code. Administrators only."
    },
    revokeInvite: {
      summary: "Revoke an invite",
      description:
        "The code registers nobody from now on; 409 when it was used already, 404 for an unknown id. Administrators only."
    }
  },
  emails: {
    list: {
      summary: "List messages",
      description:
        "Your synced messages with their analysis, filtered (account, folder, category, tag, score, unread, spam," +
        " analysis state, dates) and sorted by date or score; paged by cursor."
    },
    matrix: {
      summary: "Count messages per matrix cell",
      description:
        "How many analysed messages fall in each cell of the 3 x 3 urgency x importance matrix (a correction" +
        " wins), optionally for one account; list a cell with GET /emails?urgency=&importance=."
    },
    get: {
      summary: "Show a message",
      description:
        "One message: headers, sanitised body, attachments, folders, the analysis (the provider's base values), your" +
        " corrections, per value which source decided it (`decisions`: base, personal model or correction, and why)" +
        " and the tags your personal model suggests (`tagSuggestions`)."
    },
    correct: {
      summary: "Correct the analysis",
      description:
        "Sets (or with `null` drops) your corrections of urgency, importance, category, spam and tags;" +
        " `acceptSuggestedTag` adds one suggested tag. Every correction queues the training of your personal" +
        " model (model.train, debounced)."
    },
    reprocess: {
      summary: "Analyse a message again",
      description: "Queues a new analysis and embedding of the message (202 with the jobs)."
    },
    similar: {
      summary: "Similar messages",
      description: "Messages close in meaning (embeddings). 503 when semantic search is not configured."
    },
    reembed: {
      summary: "Re-embed all messages",
      description: "Queues embedding of your messages again, e.g. after the embedding model changed (202)."
    }
  },
  search: {
    search: {
      summary: "Search messages",
      description: "Full-text, semantic or both (merged) search over your messages, with highlighted snippets."
    }
  },
  queues: {
    overview: {
      summary: "Queue overview",
      description:
        "Job counts per queue and state, workers, kinds, active jobs and, per user, waiting and running jobs with" +
        " the oldest wait. Administrators only."
    },
    jobLimits: {
      summary: "A user's job limits",
      description:
        "Jobs of each kind the user may run at once (kinds not listed take JOB_USER_CONCURRENCY). Administrators only."
    },
    setJobLimits: {
      summary: "Set a user's job limits",
      description:
        "Replaces the user's limits per kind; a job past its owner's limit waits (`waiting: quota`) without using" +
        " an attempt. Administrators only."
    }
  },
  oauth: {
    providers: {
      summary: "List the OAuth2 providers",
      description:
        "The OAuth2 providers the administrator configured (OAUTH_PROVIDERS): name, label and kind only, for the" +
        ' web app\'s "Connect with ..." buttons.'
    },
    start: {
      summary: "Start connecting an OAuth2 account",
      description:
        "Answers the provider's authorisation URL (authorisation code flow with PKCE S256, a one-time state bound" +
        " to the signed-in user and session, valid for 10 minutes). 404 for an unknown provider."
    },
    callback: {
      summary: "OAuth2 redirect target",
      description:
        "Where the provider sends the browser back: consumes the state, exchanges the code, reads the mailbox" +
        " address, checks an IMAP login with the new access token, creates or reconnects the account and redirects" +
        " to /accounts?oauth=<outcome>. Never answers a token."
    }
  },
  accounts: {
    create: {
      summary: "Connect a mail account",
      description:
        "Checks the IMAP login first (422 with the server's answer when refused), then stores the account and its" +
        " encrypted password (201)."
    },
    list: { summary: "List accounts", description: "Your mail accounts with state and last sync." },
    get: {
      summary: "Show an account",
      description: "One account: connection, server capabilities, sync strategy and state. Never the password."
    },
    update: {
      summary: "Change an account",
      description: "Changes the given fields; a new host, port, security or login needs the password and is verified."
    },
    remove: {
      summary: "Remove an account",
      description: "Deletes the account and its synced mail here (not on the server)."
    },
    mailboxes: { summary: "List folders", description: "The account's folders with message counts." },
    sync: {
      summary: "Sync now",
      description: "Queues a sync of the account (202 with the job). 409 while a sync of it is already running."
    }
  },
  analysis: {
    budget: {
      summary: "Your AI token budget",
      description:
        "Your daily AI token budget: limit (null: none), tokens used today (UTC), remaining and when it resets. When it is used up, analysis and embedding jobs stop with `token_budget_exhausted` and the mail stays pending."
    },
    quality: {
      summary: "Quality of your personal model",
      description:
        "Per target (urgency, importance, category, spam, tag:<name>): cross-validated accuracy and per-class" +
        " precision/recall of your personal model and of the base analysis on your held-out corrections, whether" +
        " the model is used and why not (too few corrections, not better than the base), and a series per target" +
        " over the kept versions for a chart."
    },
    rescore: {
      summary: "Re-score mail with your personal model",
      description:
        "Queues an analysis.rescore job (202) that blends your analysed mail dated in [since, until) again with" +
        " your latest personal model. Your corrections still win."
    }
  },
  import: {
    kiMailHelper: {
      summary: "Import from KI-Mail-Helper",
      description:
        "Only when the admin set IMPORT_UPLOAD_ENABLED (else 404 ImportUploadDisabled). The body is your old" +
        " installation's SQLite file (emails.db, application/octet-stream, at most IMPORT_UPLOAD_MAX_BYTES, else" +
        " 413); the header x-import-master-password is your old master password's UTF-8 bytes in base64;" +
        " `dryRun=true` writes nothing. Queues an import.kiMailHelper job for you (202); its result is the" +
        " import's report (counts per kind, each item with its reasons). The old user is found by your email."
    }
  },
  events: {
    stream: {
      summary: "Your events (Server-Sent Events)",
      description:
        "A `text/event-stream` of your events: `mail.stored`, `mail.analysed`, `rule.applied`, `job.changed`," +
        " `account.changed` (the same JSON as webhooks). Each message is `id: <stream id>`, `event: <type>`," +
        " `data: <event JSON>`. Reconnect with the `Last-Event-ID` header (or `lastEventId=`) to get exactly the" +
        " events you missed, within the window (the last 1,000 events by default); when your position is older" +
        " than the window, `event: reset` comes first: reload your state. `types=mail.stored,job.changed` filters." +
        " A comment line every 15 s keeps idle connections open. Only your own events."
    }
  },
  webhooks: {
    list: { summary: "List webhooks", description: "Your webhooks, without their secrets." },
    create: {
      summary: "Create a webhook",
      description:
        "Registers an https endpoint for the given event types (201). The answer holds the signing secret, shown" +
        " only here: every delivery is a POST of the event JSON signed with" +
        ' `X-MailHelper-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (docs/webhooks.md).' +
        " URLs in private, loopback and link-local ranges are refused (400) unless the admin allows them."
    },
    get: {
      summary: "Show a webhook",
      description: "One of your webhooks: whether it is enabled, and why it was disabled (too many failures in a row)."
    },
    update: {
      summary: "Change a webhook",
      description:
        "Changes the URL, the event types, the description, or enables it again (its failure count restarts)."
    },
    remove: { summary: "Delete a webhook", description: "Deletes the webhook and its delivery log (204)." },
    rotateSecret: {
      summary: "Rotate a webhook's secret",
      description: "Replaces the signing secret; the new one is in the answer, shown only there."
    },
    deliveries: {
      summary: "A webhook's delivery log",
      description:
        "Its deliveries, newest first: event type, state (pending, delivered, failed), attempts, the last HTTP" +
        " status or error and the last attempt's duration."
    }
  },
  rules: {
    archiveEmail: {
      summary: "Archive a message",
      description:
        "Queues a `rules.apply` run of one rule that moves the message to its account's special-use Archive" +
        " mailbox (202 with the job); the move is logged and can be undone like any rule run's. 409 when the" +
        " account has no Archive mailbox or the message is in it already; 404 for an unknown message."
    },
    list: { summary: "List rules", description: "Your rules in the order they run (priority)." },
    create: {
      summary: "Create a rule",
      description:
        "Validates conditions and actions (regexes are RE2 and size-limited; contradicting actions are refused)" +
        " and stores the rule (201)."
    },
    log: { summary: "Rule log", description: "What rules did to which message, newest first." },
    runs: { summary: "List rule runs", description: "Your rules.apply runs, newest first." },
    run: { summary: "Show a rule run", description: "One run: its summary and the changes it journaled (for undo)." },
    undo: { summary: "Undo a rule run", description: "Queues a job that reverts the run's journaled changes (202)." },
    apply: {
      summary: "Apply rules to existing mail",
      description:
        "Queues a rules.apply run over an account or folder (202); a dry run first tells how many would change."
    },
    get: { summary: "Show a rule", description: "One of your rules." },
    update: { summary: "Change a rule", description: "Changes the given fields; the result is validated as a whole." },
    remove: { summary: "Delete a rule", description: "Deletes the rule (204); its log stays." },
    test: {
      summary: "Test a rule",
      description: "Evaluates the rule against your recent messages without changing anything and lists the matches."
    }
  }
}

/** The contract with its documentation: what the server serves at /openapi.json and /docs. */
export const DocumentedApi = Api.annotate(OpenApi.Transform, documentOpenApi(operationDocs))
