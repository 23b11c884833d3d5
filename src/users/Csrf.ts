import type { HttpServerRequest } from "effect/http"

const safeMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"])

export const isUnsafeMethod = (method: string): boolean => !safeMethods.has(method.toUpperCase())

/**
 * Where a request comes from, by the headers browsers set and pages cannot
 * forge: `Origin`, else `Sec-Fetch-Site`, else the origin of `Referer`.
 * `unknown` when none is present (curl, scripts; browsers send `Origin` on
 * every unsafe cross-origin request and on same-origin POST/PUT/PATCH/DELETE).
 */
export const requestProvenance = (
  request: HttpServerRequest.HttpServerRequest,
  allowedOrigins: ReadonlyArray<string>
): "same-origin" | "cross-site" | "unknown" => {
  const origin = request.headers["origin"]
  if (origin !== undefined) return allowedOrigins.includes(origin.toLowerCase()) ? "same-origin" : "cross-site"
  const fetchSite = request.headers["sec-fetch-site"]
  if (fetchSite !== undefined) return fetchSite === "same-origin" ? "same-origin" : "cross-site"
  const referer = request.headers["referer"]
  if (referer !== undefined) {
    return URL.canParse(referer) && allowedOrigins.includes(new URL(referer).origin) ? "same-origin" : "cross-site"
  }
  return "unknown"
}

/**
 * Why a request must be refused as cross-site, or undefined.
 *
 * - An unsafe request that carries the session cookie must prove it comes
 *   from one of PUBLIC_ORIGIN (strict: no provenance headers is a refusal too).
 * - Any other unsafe request (sign-in, registration) is refused only when the
 *   browser says it is cross-site, which stops login CSRF yet lets scripts in.
 * - Requests authenticated by a bearer token never reach this check: a page
 *   on another site cannot make a browser attach one.
 */
export const crossSiteRefusal = (
  request: HttpServerRequest.HttpServerRequest,
  allowedOrigins: ReadonlyArray<string>,
  carriesSessionCookie: boolean
): string | undefined => {
  if (!isUnsafeMethod(request.method)) return undefined
  const provenance = requestProvenance(request, allowedOrigins)
  if (provenance === "cross-site") return "cross-site request refused: its Origin is not this application's"
  if (provenance === "unknown" && carriesSessionCookie) {
    return "request with a session cookie refused: it carries no Origin header; send one, or use a bearer token"
  }
  return undefined
}
