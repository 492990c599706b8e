// The drainer's run budget within its one-minute schedule: shared by the Lambda (lambda/drainer.ts budgetOf)
// and the cost model (an idle run lasts until it stops taking work, not the whole minute).

/** The schedule's period: the rule fires `rate(1 minute)`. */
export const SCHEDULE_PERIOD_MS = 60_000;
/** The run has returned this long before the next tick, so that tick never meets a busy function. */
export const TICK_MARGIN_MS = 3_000;
/** Kept back from Lambda's own timeout for the final flush and the return. */
export const TIMEOUT_MARGIN_MS = 5_000;
/** Longest wind-down (answers in flight, releases, pacer save) the budget reserves before the deadline. */
export const MAX_WIND_DOWN_MS = 20_000;

/** The wind-down reserved before the deadline: one downstream timeout + 2 s, at most MAX_WIND_DOWN_MS. */
export function windDownMs(downstreamTimeoutMs: number): number {
  return Math.min(downstreamTimeoutMs + 2_000, MAX_WIND_DOWN_MS);
}

/**
 * How long after its tick a run stops taking new work (`stopAt`): an idle run ends there, since it has
 * nothing in flight to wait for. 45 s with the default 10 s downstream timeout.
 */
export function stopOffsetMs(downstreamTimeoutMs: number): number {
  return SCHEDULE_PERIOD_MS - TICK_MARGIN_MS - windDownMs(downstreamTimeoutMs);
}
