/**
 * The API's types as the pages use them, all derived from the typed client (so from the server's
 * own contract): a field renamed on the server fails the web build here or where it is used.
 */
import type { Effect } from "effect"
import type { HttpClientResponse } from "effect/http"
import type { HttpApiClient } from "effect/http-api"
import type { Api } from "../../api/contract.ts"

/** The client's shape straight from the contract (what web/src/api/client.ts builds at run time). */
type ApiClient = HttpApiClient.ForApi<typeof Api>

/** The decoded body a call succeeds with (the client's other response modes are not used here). */
type Success<F extends (...args: never) => Effect.Effect<unknown, unknown, unknown>> = Exclude<
  Effect.Success<ReturnType<F>>,
  HttpClientResponse.HttpClientResponse | readonly [unknown, HttpClientResponse.HttpClientResponse]
>
type Request<F extends (...args: never) => unknown> = Parameters<F>[0]

export type EmailPage = Success<ApiClient["emails"]["list"]>
export type EmailSummary = EmailPage["items"][number]
export type EmailDetail = Success<ApiClient["emails"]["get"]>
export type EmailListQuery = NonNullable<Request<ApiClient["emails"]["list"]>>["query"]
export type Correction = Request<ApiClient["emails"]["correct"]>["payload"]
export type SimilarResponse = Success<ApiClient["emails"]["similar"]>
export type Band = NonNullable<EmailSummary["band"]>
export type Level = NonNullable<EmailSummary["urgency"]>
export type CategoryName = NonNullable<NonNullable<EmailListQuery>["category"]>

export type SearchResponse = Success<ApiClient["search"]["search"]>
export type SearchHit = SearchResponse["items"][number]
export type SearchMode = SearchResponse["mode"]

export type AccountView = Success<ApiClient["accounts"]["list"]>["items"][number]
export type MailboxView = Success<ApiClient["accounts"]["mailboxes"]>["items"][number]

export type JobView = Success<ApiClient["jobs"]["get"]>

export type RuleView = Success<ApiClient["rules"]["get"]>
export type RuleInputWire = Request<ApiClient["rules"]["create"]>["payload"]
export type RuleConditionWire = RuleInputWire["conditions"][number]
export type RuleActionWire = RuleInputWire["actions"][number]
export type RuleTestResponse = Success<ApiClient["rules"]["test"]>
export type RuleTestResult = RuleTestResponse["results"][number]
export type ApplyRequest = Request<ApiClient["rules"]["apply"]>["payload"]
export type ApplyRunPage = Success<ApiClient["rules"]["runs"]>
export type RunLogPage = Success<ApiClient["rules"]["log"]>
export type EmailId = EmailSummary["id"]
export type AccountId = AccountView["id"]
export type RuleId = RuleView["id"]
export type MailboxId = MailboxView["id"]
