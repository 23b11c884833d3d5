import { Context, type Effect, type Stream } from "effect"
import type { AccountId } from "../contract/accounts/Account.ts"

/**
 * Which accounts this worker process may watch. The watchers (src/watch/Watchers.ts) consume it;
 * the leases (src/watch/AccountLeases.ts: one Redis lease per account with a fencing token, spread
 * over the live workers) provide it. The seam lets each side be built and tested without the other.
 *
 * The contract a provider keeps:
 * - at no moment do two processes hold the same account (a provider that cannot prove it still holds
 *   a lease — its deadline passed, Redis unreachable — drops the account from `owned` first);
 * - `owned` emits the whole set, starting with the current one, and again on every change;
 * - `fence` is a number that only grows for an account across all processes, so work started under an
 *   old ownership can be told apart from work under the new one (it is logged with every reconnect).
 */
export interface OwnedAccounts {
  readonly accounts: ReadonlyMap<AccountId, { readonly fence: number }>
}

export class AccountOwnership extends Context.Service<
  AccountOwnership,
  {
    /** The owned set now and on every change. Never fails: a provider that loses its store owns nothing. */
    readonly owned: Stream.Stream<OwnedAccounts>
    /** Whether this process holds the account right now (checked before acting on a change). */
    readonly holds: (accountId: AccountId) => Effect.Effect<boolean>
  }
>()("mail-helper/AccountOwnership") {}
