/**
 * The OAuth2 providers the administrator configured (env `OAUTH_PROVIDERS`, a JSON array;
 * docs/accounts-and-sync.md "OAuth2 accounts"). Presets fill in what Google and Microsoft 365
 * always need (issuer, scopes, IMAP server); `oidc` is any OpenID Connect provider found by
 * discovery. The client secret is `Redacted` from the moment it is read.
 */
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import type { Security } from "../contract/accounts/Account.ts"

const Name = Schema.String.pipe(Schema.check(Schema.isPattern(/^[a-z0-9][a-z0-9_-]{0,63}$/)))
const Imap = Schema.Struct({
  host: Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(253))),
  port: Schema.Int.pipe(Schema.check(Schema.isBetween({ minimum: 1, maximum: 65_535 }))),
  security: Schema.optionalKey(Schema.Literals(["tls", "starttls", "none"]))
})
const Common = {
  name: Name,
  label: Schema.optionalKey(Schema.String.pipe(Schema.check(Schema.isMinLength(1), Schema.isMaxLength(100)))),
  clientId: Schema.String.pipe(Schema.check(Schema.isMinLength(1))),
  clientSecret: Schema.String.pipe(Schema.check(Schema.isMinLength(1))),
  /** How the client authenticates at the token endpoint (default: `post` for the presets, `basic` for oidc). */
  clientAuth: Schema.optionalKey(Schema.Literals(["basic", "post"])),
  /** Replaces the preset's scopes. */
  scopes: Schema.optionalKey(Schema.Array(Schema.String)),
  /** Replaces the preset's IMAP server. */
  imap: Schema.optionalKey(Imap)
}
const ProviderEntry = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("google"), ...Common }),
  Schema.Struct({
    kind: Schema.Literal("microsoft"),
    ...Common,
    /** The directory (tenant) ID, a GUID: the issuer in the ID tokens names it. */
    tenant: Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9.-]{1,100}$/)))
  }),
  Schema.Struct({
    kind: Schema.Literal("oidc"),
    ...Common,
    /** The issuer; its `/.well-known/openid-configuration` is read (discovery). */
    issuer: Schema.String.pipe(Schema.check(Schema.isMinLength(1))),
    /** Which claim (ID token, then userinfo) is the IMAP login name; default `email`. */
    usernameClaim: Schema.optionalKey(Schema.String),
    /** Extra authorisation request parameters; default `{ prompt: "consent" }` (a refresh token). */
    authorizationParams: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
    /** Allow an http:// issuer (a provider on a private network or in tests; never across the internet). */
    allowInsecureHttp: Schema.optionalKey(Schema.Boolean)
  })
])
const ProviderEntries = Schema.Array(ProviderEntry)

export type OAuthProviderKind = "google" | "microsoft" | "oidc"

/** One provider, presets applied. */
export interface OAuthProvider {
  readonly name: string
  readonly label: string
  readonly kind: OAuthProviderKind
  readonly issuer: URL
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly clientAuth: "basic" | "post"
  readonly scopes: ReadonlyArray<string>
  readonly authorizationParams: Readonly<Record<string, string>>
  /** Claims tried in order (ID token, then userinfo) for the mailbox address. */
  readonly usernameClaims: ReadonlyArray<string>
  readonly imap: { readonly host: string; readonly port: number; readonly security: Security }
  readonly allowInsecureHttp: boolean
}

export interface OAuthConfigShape {
  readonly providers: ReadonlyArray<OAuthProvider>
  /** The application's public origin: the redirect URI is `<origin>/api/v1/oauth/<name>/callback`. */
  readonly publicOrigin: string
  /** How long an authorisation may take from start to callback. */
  readonly stateTtlSeconds: number
  /** A cached access token is used until this many seconds before it expires. */
  readonly refreshMarginSeconds: number
}

export const redirectUri = (config: OAuthConfigShape, provider: OAuthProvider): string =>
  `${config.publicOrigin}/api/v1/oauth/${provider.name}/callback`

const toProvider = (entry: typeof ProviderEntry.Type): OAuthProvider => {
  const secret = Redacted.make(entry.clientSecret)
  switch (entry.kind) {
    case "google":
      return {
        name: entry.name,
        label: entry.label ?? "Google",
        kind: "google",
        issuer: new URL("https://accounts.google.com"),
        clientId: entry.clientId,
        clientSecret: secret,
        clientAuth: entry.clientAuth ?? "post",
        scopes: entry.scopes ?? ["openid", "email", "https://mail.google.com/"],
        // Google issues a refresh token only for offline access, and again only on a new consent
        authorizationParams: { access_type: "offline", prompt: "consent" },
        usernameClaims: ["email"],
        imap: {
          host: entry.imap?.host ?? "imap.gmail.com",
          port: entry.imap?.port ?? 993,
          security: entry.imap?.security ?? "tls"
        },
        allowInsecureHttp: false
      }
    case "microsoft":
      return {
        name: entry.name,
        label: entry.label ?? "Microsoft 365",
        kind: "microsoft",
        issuer: new URL(`https://login.microsoftonline.com/${entry.tenant}/v2.0`),
        clientId: entry.clientId,
        clientSecret: secret,
        clientAuth: entry.clientAuth ?? "post",
        scopes: entry.scopes ?? [
          "openid",
          "email",
          "profile",
          "offline_access",
          "https://outlook.office.com/IMAP.AccessAsUser.All"
        ],
        authorizationParams: {},
        usernameClaims: ["email", "preferred_username"],
        imap: {
          host: entry.imap?.host ?? "outlook.office365.com",
          port: entry.imap?.port ?? 993,
          security: entry.imap?.security ?? "tls"
        },
        allowInsecureHttp: false
      }
    case "oidc":
      if (entry.imap === undefined) throw new Error(`OAUTH_PROVIDERS: provider ${entry.name} needs "imap"`)
      return {
        name: entry.name,
        label: entry.label ?? entry.name,
        kind: "oidc",
        issuer: new URL(entry.issuer),
        clientId: entry.clientId,
        clientSecret: secret,
        clientAuth: entry.clientAuth ?? "basic",
        scopes: entry.scopes ?? ["openid", "email", "offline_access"],
        authorizationParams: entry.authorizationParams ?? { prompt: "consent" },
        usernameClaims: [entry.usernameClaim ?? "email"],
        imap: { host: entry.imap.host, port: entry.imap.port, security: entry.imap.security ?? "tls" },
        allowInsecureHttp: entry.allowInsecureHttp ?? false
      }
  }
}

const decodeEntries = Schema.decodeUnknownEffect(Schema.fromJsonString(ProviderEntries))

export const oauthConfig = Effect.gen(function* () {
  const raw = yield* Config.option(Config.String("OAUTH_PROVIDERS"))
  const origin = yield* Config.option(Config.String("OAUTH_PUBLIC_ORIGIN"))
  const port = yield* Config.Int("PORT").pipe(Config.withDefault(3000))
  const stateTtlSeconds = yield* Config.Int("OAUTH_STATE_TTL_SECONDS").pipe(Config.withDefault(600))
  const refreshMarginSeconds = yield* Config.Int("OAUTH_REFRESH_MARGIN_SECONDS").pipe(Config.withDefault(60))
  const entries = yield* Option.match(raw, {
    onNone: () => Effect.succeed([] as ReadonlyArray<typeof ProviderEntry.Type>),
    // the schema's message names the bad field, never the value (the secret is in it)
    onSome: (json) =>
      decodeEntries(json).pipe(
        Effect.mapError(() => new Error("OAUTH_PROVIDERS is not a valid provider list (docs/accounts-and-sync.md)")),
        Effect.orDie
      )
  })
  const providers = yield* Effect.try({
    try: () => entries.map(toProvider),
    catch: (error) => (error instanceof Error ? error : new Error("OAUTH_PROVIDERS is invalid"))
  }).pipe(Effect.orDie)
  const names = new Set(providers.map((provider) => provider.name))
  if (names.size !== providers.length) return yield* Effect.die(new Error("OAUTH_PROVIDERS: a name is used twice"))
  const publicOrigin = Option.getOrElse(origin, () => `http://localhost:${port}`).replace(/\/+$/, "")
  return {
    providers,
    publicOrigin,
    stateTtlSeconds: Math.max(60, stateTtlSeconds),
    refreshMarginSeconds: Math.max(0, refreshMarginSeconds)
  } satisfies OAuthConfigShape
})

export class OAuthConfig extends Context.Service<OAuthConfig, OAuthConfigShape>()("mail-helper/OAuthConfig") {
  static readonly layer = Layer.effect(OAuthConfig, oauthConfig)
}
