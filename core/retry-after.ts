/** `Retry-After` parsing: delay-seconds or an HTTP-date, clamped to a sane range (RFC 9110 §10.2.3). */

/** Longest wait an app may announce before Sluice stops believing it: one hour. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

const DELAY_SECONDS = /^\s*(\d{1,10})\s*$/;

/**
 * Milliseconds to wait from `now`, or undefined when the header is absent or not understood (garbage is
 * ignored rather than trusted: the pacer still cuts, it just does not pause). A date in the past gives 0.
 */
export function parseRetryAfter(
  value: string | undefined,
  now: number,
  maxMs: number = MAX_RETRY_AFTER_MS,
): number | undefined {
  if (value === undefined) return undefined;
  const seconds = DELAY_SECONDS.exec(value);
  if (seconds) return Math.min(maxMs, Number(seconds[1]) * 1000);
  // HTTP-date needs a weekday or month name; Date.parse alone would accept "1.5" or "12" as dates.
  if (!/[A-Za-z]{3}/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(maxMs, Math.max(0, at - now));
}
