// The reconnect policy of SPEC.md: base × 2^attempt, capped, with jitter so a fleet does not reconnect in step.
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** Delay before retry number `attempt` (0-based): uniformly in [½, 1] of the capped exponential step. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const step = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step * (0.5 + random / 2));
}
