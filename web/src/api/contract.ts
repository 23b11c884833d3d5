/**
 * The one place the web app reaches into the server's code: the HTTP contract. Anything under
 * src/ other than src/contract/ would drag server-only modules into the browser bundle.
 */
export { Api } from "../../../src/contract/Api.ts"
