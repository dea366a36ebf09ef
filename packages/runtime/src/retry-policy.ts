/**
 * How a failed delivery (an export batch, an `onEvent` `RetryError`, any durable retry) is retried:
 * exponential backoff with jitter and a cap, for a time window, then the dead-letter store.
 */
export interface RetryPolicy {
  /** Most attempts in all (default 100: with the default schedule the window ends first). */
  maxAttempts: number;
  /** Backoff before the 2nd attempt, ms; doubles each time, with jitter (default 1000). */
  backoffBaseMs: number;
  /** Largest backoff, ms (default 600 000: 10 minutes). */
  backoffMaxMs: number;
  /**
   * How long after its first failure a delivery keeps being retried, ms (default 14 400 000: 4 hours).
   * The last attempt is made at the end of the window; if it fails too the delivery is dead-lettered.
   */
  retryWindowMs: number;
}

/** The defaults: 1 s doubling to 10 min between attempts, for 4 hours (see the runtime README's schedule table). */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 100, backoffBaseMs: 1000, backoffMaxMs: 600_000, retryWindowMs: 4 * 3_600_000 };

/** The backoff after the `attempts`-th failed attempt before jitter: `min(max, base * 2^(attempts-1))`. */
export function backoffMs(policy: RetryPolicy, attempts: number): number {
  return Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * What to do after the `attempts`-th attempt failed with a retryable error, given when the first
 * failure happened: the time of the next attempt (backoff jittered uniformly between half and all of
 * it, never past the end of the window), or `exhausted` when the attempts or the window are used up.
 */
export function nextAttempt(
  policy: RetryPolicy,
  attempts: number,
  firstFailedAt: number,
  now = Date.now(),
  random: () => number = Math.random,
): { exhausted: false; at: number } | { exhausted: true } {
  const windowEnd = firstFailedAt + policy.retryWindowMs;
  if (attempts >= policy.maxAttempts || now >= windowEnd) return { exhausted: true };
  const delay = backoffMs(policy, attempts);
  const jittered = Math.round(delay / 2 + random() * (delay / 2));
  return { exhausted: false, at: Math.min(now + jittered, windowEnd) };
}

/**
 * The schedule without jitter (each delay at its upper bound; jitter makes each 50-100 % of it), for
 * the docs and tests: attempt number, delay before it, time since the first attempt.
 */
export function retrySchedule(policy: RetryPolicy): { attempt: number; delayMs: number; atMs: number }[] {
  const rows = [{ attempt: 1, delayMs: 0, atMs: 0 }];
  let at = 0;
  for (let attempts = 1; attempts < policy.maxAttempts; attempts += 1) {
    if (at >= policy.retryWindowMs) break;
    const delay = Math.min(backoffMs(policy, attempts), policy.retryWindowMs - at);
    at += delay;
    rows.push({ attempt: attempts + 1, delayMs: delay, atMs: at });
  }
  return rows;
}
