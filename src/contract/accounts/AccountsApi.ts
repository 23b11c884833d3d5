import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Conflict, ServiceUnavailable } from "../http/ApiErrors.ts"
import { JobAccepted } from "../jobs/Job.ts"
import { Authentication } from "../users/CurrentUser.ts"
import { TooManyRequestsWithRetryAfter } from "../users/UserErrors.ts"
import {
  AccountExists,
  AccountId,
  AccountList,
  AccountNotFound,
  AccountVerificationFailed,
  AccountView,
  CreateAccountRequest,
  CredentialRequired,
  MailboxList,
  UpdateAccountRequest
} from "./Account.ts"

const params = { id: AccountId }

/**
 * Mail accounts of the signed-in user. Another user's account is a 404 everywhere. The password
 * is write-only: it is verified against the server, stored encrypted, and never returned; a change
 * of where or how it is sent (host, port, security, username) must carry it again (400
 * CredentialRequired otherwise).
 */
export class AccountsApi extends HttpApiGroup.make("accounts")
  .add(
    HttpApiEndpoint.post("create", "/accounts", {
      payload: CreateAccountRequest,
      success: AccountView.pipe(HttpApiSchema.status(201)),
      error: [AccountVerificationFailed, AccountExists, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("list", "/accounts", {
      success: AccountList,
      error: ServiceUnavailable
    })
  )
  .add(
    HttpApiEndpoint.get("get", "/accounts/:id", {
      params,
      success: AccountView,
      error: [AccountNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.patch("update", "/accounts/:id", {
      params,
      payload: UpdateAccountRequest,
      success: AccountView,
      error: [
        AccountNotFound,
        CredentialRequired,
        AccountVerificationFailed,
        AccountExists,
        TooManyRequestsWithRetryAfter,
        ServiceUnavailable
      ]
    })
  )
  .add(
    HttpApiEndpoint.delete("remove", "/accounts/:id", {
      params,
      success: HttpApiSchema.NoContent,
      error: [AccountNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.get("mailboxes", "/accounts/:id/mailboxes", {
      params,
      success: MailboxList,
      error: [AccountNotFound, ServiceUnavailable]
    })
  )
  .add(
    HttpApiEndpoint.post("sync", "/accounts/:id/sync", {
      params,
      success: JobAccepted.pipe(HttpApiSchema.status(202)),
      error: [AccountNotFound, Conflict, TooManyRequestsWithRetryAfter, ServiceUnavailable]
    })
  )
  .middleware(Authentication)
  .prefix("/api/v1") {}
