import type { NonEmptyReadonlyArray } from "effect/Array"
import { HttpApi, type HttpApiGroup } from "effect/http-api"
import { ValidationErrors } from "./http/ValidationErrors.ts"

/**
 * An `HttpApi` of `groups` with what every group of the API shares: the ValidationErrors middleware
 * and the parse options (report every invalid field, refuse fields the schema does not know).
 *
 * The server's whole contract (`Api.ts`) is `makeApi(every group)`; the web's typed client
 * (web/src/api/client.ts) builds `makeApi(oneGroup)` for each group when a call first reaches it, so
 * the browser imports a group's `*Api.ts` (and evaluates its schemas) only when a page needs it. This
 * module must therefore import no group itself.
 */
export const makeApi = <const Groups extends NonEmptyReadonlyArray<HttpApiGroup.Constraint>>(...groups: Groups) =>
  HttpApi.make("mail-helper")
    .add(...groups)
    .middleware(ValidationErrors)
    .annotate(HttpApi.ParseOptions, { errors: "all", onExcessProperty: "error" })
    .annotate(HttpApi.HeadersParseOptions, { errors: "all" })
