import { Duration } from "effect"
import type { RetryPolicy } from "../contract/jobs/JobKind.ts"

/** Exponential backoff with jitter, capped: the delay before retry number `retry` (1-based). */
export const retryDelayMillis = (policy: RetryPolicy, retry: number, random: number = Math.random()): number => {
  const initial = Duration.toMillis(Duration.fromInputUnsafe(policy.initialDelay))
  const max = Duration.toMillis(Duration.fromInputUnsafe(policy.maxDelay))
  const exponential = Math.min(max, initial * 2 ** Math.max(0, retry - 1))
  const jitter = Math.min(1, Math.max(0, policy.jitter))
  return Math.round(exponential * (1 - jitter + jitter * random))
}
