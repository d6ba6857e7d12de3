import { MINUTE, SECOND } from './clock.js';

/** SPEC §13 audit stream: how long a failed delivery waits before its next attempt. */
export const RETRY = {
  first: SECOND / 2,
  cap: 5 * MINUTE,
} as const;

/**
 * Exponential back-off with a cap and jitter: after the n-th failed attempt
 * (n ≥ 1) the wait is first·2^(n−1), at most `cap`, scaled by 0.5–1 (`jitter`
 * in [0, 1)) so the instances' retries of a receiver that was down do not all
 * land in the same instant. A receiver down for hours is retried every 2.5–5 min.
 */
export function retryDelay(attempts: number, jitter: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  const base = Math.min(RETRY.cap, RETRY.first * 2 ** exponent);
  return Math.round(base * (0.5 + 0.5 * Math.min(Math.max(jitter, 0), 1)));
}
