/**
 * A real OpenID Connect provider for tests: `oidc-provider` (certified) in this process, on a free
 * loopback port, with an in-memory store. The login and consent screens are answered by the
 * harness for `nextLogin.sub` (no HTML); introspection and revocation are on, access tokens live
 * `accessTokenTtl` seconds, refresh tokens rotate on every use.
 *
 * `browse(url)` is the user's browser: it follows the provider's redirects (with its cookies) until
 * the provider sends it to `redirectPrefix`, and returns that URL (the callback with code and state).
 */
import * as http from "node:http"
import Provider from "oidc-provider"
import { freePort } from "./freePort.ts"

export interface TestClient {
  readonly clientId: string
  readonly clientSecret: string
}

export interface TestOidcProvider {
  readonly issuer: string
  readonly port: number
  readonly app: TestClient
  /** Another registered client with the same redirect URIs (a code issued to it is not ours). */
  readonly otherApp: TestClient
  /** The resource server (Dovecot) that introspects tokens. */
  readonly introspector: TestClient
  /** Who signs in at the next authorisation. */
  readonly nextLogin: { sub: string }
  /** Every token the provider issued (access, refresh, ID), to look for in logs and answers. */
  readonly issuedTokens: Array<string>
  /** Token endpoint calls by grant type. */
  readonly grants: { authorization_code: number; refresh_token: number }
  /** Every grant id the consent step created. */
  readonly grantIds: Array<string>
  browse(url: string, redirectPrefix: string): Promise<URL>
  /** Destroys every grant (the user revoked the app): its refresh tokens stop working. */
  revokeAll(): Promise<void>
  stop(): Promise<void>
}

const secret = (name: string) => `${name}-secret-${Math.random().toString(36).slice(2)}`

export const startOidcProvider = async (options: {
  readonly redirectUris: ReadonlyArray<string>
  readonly accessTokenTtl: number
}): Promise<TestOidcProvider> => {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = { clientId: "mail-helper", clientSecret: secret("app") }
  const otherApp = { clientId: "other-app", clientSecret: secret("other") }
  const introspector = { clientId: "dovecot", clientSecret: secret("dovecot") }
  const nextLogin = { sub: "" }
  const issuedTokens: Array<string> = []
  const grants = { authorization_code: 0, refresh_token: 0 }
  const grantIds: Array<string> = []
  const webClient = (client: TestClient) => ({
    client_id: client.clientId,
    client_secret: client.clientSecret,
    redirect_uris: [...options.redirectUris],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic"
  })
  const provider = new Provider(issuer, {
    clients: [
      webClient(app),
      webClient(otherApp),
      {
        client_id: introspector.clientId,
        client_secret: introspector.clientSecret,
        redirect_uris: [],
        grant_types: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic"
      }
    ],
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub, email: sub, email_verified: true })
    }),
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    scopes: ["openid", "email", "offline_access"],
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true }
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: options.accessTokenTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 86_400,
      Grant: 86_400,
      Interaction: 600,
      Session: 86_400
    },
    cookies: { keys: [secret("cookies")] },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` }
  })
  provider.on("grant.success", (ctx) => {
    const grantType = ctx.oidc.params?.grant_type
    if (grantType === "authorization_code" || grantType === "refresh_token") grants[grantType]++
    const body = ctx.body
    if (typeof body === "object" && body !== null) {
      for (const key of ["access_token", "refresh_token", "id_token"]) {
        const value = (body as Record<string, unknown>)[key]
        if (typeof value === "string") issuedTokens.push(value)
      }
    }
  })
  const handle = provider.callback()
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith("/interaction/") === true) {
      void (async () => {
        const details = await provider.interactionDetails(req, res)
        if (details.prompt.name === "login") {
          await provider.interactionFinished(req, res, { login: { accountId: nextLogin.sub } })
          return
        }
        const accountId = details.session?.accountId ?? nextLogin.sub
        const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) })
        grant.addOIDCScope(String(details.params.scope))
        const grantId = await grant.save()
        grantIds.push(grantId)
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
      })().catch((error: unknown) => {
        res.statusCode = 500
        res.end(String(error))
      })
      return
    }
    handle(req, res)
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))

  const browse = async (start: string, redirectPrefix: string): Promise<URL> => {
    const jar = new Map<string, string>()
    let url = new URL(start)
    for (let hop = 0; hop < 20; hop++) {
      if (url.href.startsWith(redirectPrefix)) return url
      const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ")
      const response = await fetch(url, { redirect: "manual", headers: cookie === "" ? {} : { cookie } })
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(";")
        const eq = pair?.indexOf("=") ?? -1
        if (pair !== undefined && eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
      }
      const location = response.headers.get("location")
      if (location === null) throw new Error(`the provider answered ${response.status}: ${await response.text()}`)
      url = new URL(location, url)
    }
    throw new Error("too many redirects at the provider")
  }

  const revokeAll = async () => {
    for (const id of grantIds) {
      const grant = await provider.Grant.find(id)
      await grant?.destroy()
    }
  }

  return {
    issuer,
    port,
    app,
    otherApp,
    introspector,
    nextLogin,
    issuedTokens,
    grants,
    grantIds,
    browse,
    revokeAll,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
