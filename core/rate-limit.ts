/** Rate-limit headers (`RateLimit`, `RateLimit-*`, `X-RateLimit-*`): a tolerant parser into one announced quota. */
import { split, unquote } from './header-lists';
import { MAX_RETRY_AFTER_MS } from './retry-after';

// Header families read here (names lower-cased, repeated fields joined with ", " as the adapters do):
//
// - IETF draft-ietf-httpapi-ratelimit-headers-08 to -11 (latest, May 2026), §3 and §4: both fields are
//   Structured-Field lists (RFC 9651) of items named by a quoted policy identifier with parameters.
//     RateLimit-Policy: "burst";q=100;w=60,"daily";q=1000;w=86400   q = quota (required), w = window in
//                                                                    seconds, qu = quota unit ("requests" by
//                                                                    default, or "content-bytes",
//                                                                    "concurrent-requests"), pk = partition key
//     RateLimit: "default";r=50;t=30                                 r = available quota (required), t =
//                                                                    seconds within which the client may use
//                                                                    no more than r (the effective window)
//   The draft (§7): malformed fields MUST be ignored; a client SHOULD NOT exceed r within t; Retry-After takes
//   precedence. express-rate-limit's `standardHeaders: 'draft-8'` emits this form with spaces after `;`:
//     RateLimit-Policy: "100-in-1min"; q=100; w=60; pk=:ZWZjOGM0YTk0MjVm:   RateLimit: "100-in-1min"; r=99; t=60
// - express-rate-limit `standardHeaders: 'draft-7'` (draft -07): RateLimit-Policy: 100;w=60 (the item is the
//   limit) and one dictionary, RateLimit: limit=100, remaining=99, reset=60 (reset in seconds).
// - express-rate-limit `standardHeaders: 'draft-6'` (or `true`; draft -06): RateLimit-Policy: 100;w=60,
//   RateLimit-Limit: 100, RateLimit-Remaining: 99, RateLimit-Reset: 60 (seconds; only when the store knows
//   it). Older drafts and Envoy list policies in the limit field too: RateLimit-Limit: 10, 10;w=1, 50;w=60.
// - The de-facto X- family (express-rate-limit `legacyHeaders`, GitHub, API gateways): X-RateLimit-Limit,
//   X-RateLimit-Remaining, X-RateLimit-Reset, no window. express-rate-limit and GitHub send the reset as epoch
//   seconds (`Math.ceil(resetTime / 1000)`), others as seconds from now: a value that can only be a date
//   (≥ 10⁹ s, i.e. after 2001) is read as epoch seconds (≥ 10¹² as epoch ms) against `now`.
// Sources: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/ (draft -11 text in the
// ietf-wg-httpapi/ratelimit-headers repository); express-rate-limit source/headers.ts (setDraft6Headers,
// setDraft7Headers, setDraft8Headers, setLegacyHeaders).

/**
 * Longest window that is read as a rate rather than a budget, ms. A quota of q per w allows any schedule of q
 * requests inside w. Over a few seconds that is the app's rate: a backlog runs into it within the pacer's own
 * reaction time, so q/w caps the pacing rate. Over minutes or hours it is a budget: spending it at the app's
 * own pace and then waiting for the reset delivers as many webhooks by the reset as spreading it evenly, and
 * delivers a burst of them much sooner, so a long window must not cap the rate (1000 per hour spread evenly
 * would hold a fast app to 0.28/s); its `remaining = 0` still stops sending until the reset.
 */
export const RATE_WINDOW_MAX_MS = 10_000;

/**
 * Shortest effective window whose `remaining` is spread over it, ms. The draft's `t` is whole seconds
 * (express-rate-limit rounds up), so `t = 1` means anything from a millisecond to a second: r/t would be a
 * bound off by any factor (a token bucket with 3 tokens left announces r=3;t=1 and refills 50/s).
 */
export const SPREAD_MIN_MS = 2_000;

/** One announced quota, the most restrictive of those the answer carried. Absent fields were not announced. */
export interface RateLimitInfo {
  /** Requests allowed per window (> 0). */
  readonly limit?: number;
  /** The window of `limit`, ms (> 0); absent when the app gave a limit without one (the X- family). */
  readonly windowMs?: number;
  /** Requests still available (≥ 0). */
  readonly remaining?: number;
  /** Ms from the answer until `remaining` no longer applies (the reset / effective window), ≤ one hour. */
  readonly resetMs?: number;
}

interface Quota {
  readonly limit: number;
  readonly windowMs?: number;
}

interface Limit {
  readonly remaining: number;
  readonly resetMs?: number;
}

/** One list member: its bare item (unquoted when it was a string) and its parameters. */
interface Member {
  readonly item: string;
  readonly quoted: boolean;
  readonly params: ReadonlyMap<string, string>;
}

const NUMBER = /^\d{1,15}(\.\d{1,6})?$/;

function num(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  return NUMBER.test(v) ? Number(v) : undefined;
}

function members(value: string | undefined): Member[] {
  if (value === undefined) return [];
  const out: Member[] = [];
  for (const raw of split(value, ',')) {
    if (raw.trim() === '') continue;
    const [head, ...rest] = split(raw, ';');
    const { text, quoted } = unquote(head);
    const params = new Map<string, string>();
    for (const p of rest) {
      const eq = p.indexOf('=');
      const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
      if (key !== '') params.set(key, eq < 0 ? '' : unquote(p.slice(eq + 1)).text);
    }
    out.push({ item: text, quoted, params });
  }
  return out;
}

/** Seconds to ms, or undefined unless a positive whole window. */
function windowOf(seconds: string | undefined): number | undefined {
  const w = num(seconds);
  return w !== undefined && w > 0 ? w * 1000 : undefined;
}

/** A reset in seconds from now, or (X- family) a date in epoch seconds or ms; clamped to [0, one hour]. */
function resetOf(value: string | undefined, now: number, epochAllowed: boolean): number | undefined {
  const v = num(value);
  if (v === undefined) return undefined;
  let ms = v * 1000;
  if (epochAllowed && v >= 1e12) ms = v - now;
  else if (epochAllowed && v >= 1e9) ms = v * 1000 - now;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** Whether a policy counts requests (the default unit); byte or concurrency quotas are not a request rate. */
function countsRequests(m: Member): boolean {
  const unit = m.params.get('qu');
  return unit === undefined || unit === 'requests' || unit === 'request';
}

/**
 * Quotas of `RateLimit-Policy` (and of policy members of the limit fields): draft -08+ items are a quoted
 * name with `q`, earlier ones are the limit itself; `w` is the window either way.
 */
function policies(value: string | undefined, skipNames: Set<string>): Quota[] {
  const out: Quota[] = [];
  for (const m of members(value)) {
    if (m.quoted && !countsRequests(m)) {
      skipNames.add(m.item);
      continue;
    }
    const limit = m.quoted ? num(m.params.get('q')) : num(m.item);
    if (limit === undefined || limit <= 0) continue;
    const windowMs = windowOf(m.params.get('w'));
    out.push(windowMs === undefined ? { limit } : { limit, windowMs });
  }
  return out;
}

/** A limit field (`RateLimit-Limit`, `X-RateLimit-Limit`): a plain limit, maybe followed by policies. */
function limitField(value: string | undefined): Quota[] {
  const out: Quota[] = [];
  for (const m of members(value)) {
    if (m.quoted) continue;
    const limit = num(m.item);
    if (limit === undefined || limit <= 0) continue;
    const windowMs = windowOf(m.params.get('w'));
    out.push(windowMs === undefined ? { limit } : { limit, windowMs });
  }
  return out;
}

/** The `RateLimit` field: draft -08+ items (`"name";r=..;t=..`) or draft -07's dictionary. */
function serviceLimits(
  value: string | undefined,
  now: number,
  skipNames: Set<string>,
  quotas: Quota[],
): Limit[] {
  const out: Limit[] = [];
  const list = members(value);
  const dict = new Map<string, string>();
  for (const m of list) {
    if (m.quoted) {
      if (skipNames.has(m.item)) continue;
      const remaining = num(m.params.get('r'));
      if (remaining === undefined) continue;
      const resetMs = resetOf(m.params.get('t'), now, false);
      out.push(resetMs === undefined ? { remaining } : { remaining, resetMs });
      continue;
    }
    const eq = m.item.indexOf('=');
    if (eq > 0) dict.set(m.item.slice(0, eq).trim().toLowerCase(), m.item.slice(eq + 1).trim());
  }
  const limit = num(dict.get('limit'));
  if (limit !== undefined && limit > 0) quotas.push({ limit });
  const remaining = num(dict.get('remaining'));
  if (remaining !== undefined) {
    const resetMs = resetOf(dict.get('reset'), now, false);
    out.push(resetMs === undefined ? { remaining } : { remaining, resetMs });
  }
  return out;
}

/** A rate in requests/ms, for ranking (a quota without a window ranks by its limit alone, after the rest). */
const rateOf = (q: Quota): number =>
  q.windowMs === undefined ? Number.POSITIVE_INFINITY : q.limit / q.windowMs;

/**
 * The most restrictive quota: a short-window one (a rate, see RATE_WINDOW_MAX_MS) before a long one (a budget,
 * which a rate must not be taken from), the lowest rate within each; a limit without a window only if nothing
 * had one.
 */
function tightestQuota(quotas: readonly Quota[]): Quota | undefined {
  const short = quotas.filter((q) => q.windowMs !== undefined && q.windowMs <= RATE_WINDOW_MAX_MS);
  const long = quotas.filter((q) => q.windowMs !== undefined && q.windowMs > RATE_WINDOW_MAX_MS);
  const pool = short.length > 0 ? short : long.length > 0 ? long : quotas;
  let best: Quota | undefined;
  for (const q of pool) {
    if (!best || rateOf(q) < rateOf(best) || (rateOf(q) === rateOf(best) && q.limit < best.limit)) best = q;
  }
  return best;
}

/**
 * The service limit that binds first: an exhausted one (the longest wait), else the lowest spreadable rate
 * (remaining over a reset between SPREAD_MIN_MS and RATE_WINDOW_MAX_MS), else the fewest remaining.
 */
function tightestLimit(limits: readonly Limit[]): Limit | undefined {
  const exhausted = limits.filter((l) => l.remaining === 0);
  if (exhausted.length > 0) {
    return exhausted.reduce((a, b) => ((b.resetMs ?? -1) > (a.resetMs ?? -1) ? b : a));
  }
  const spreadable = limits.filter(
    (l) => l.resetMs !== undefined && l.resetMs >= SPREAD_MIN_MS && l.resetMs <= RATE_WINDOW_MAX_MS,
  );
  const spreadRate = (l: Limit): number => l.remaining / (l.resetMs ?? 1);
  if (spreadable.length > 0) return spreadable.reduce((a, b) => (spreadRate(b) < spreadRate(a) ? b : a));
  if (limits.length === 0) return undefined;
  return limits.reduce((a, b) => (b.remaining < a.remaining ? b : a));
}

/** Every header this module reads (lower case, as the downstream port delivers them). */
const RATE_LIMIT_HEADERS = [
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
] as const;

/**
 * Reads the rate-limit headers of one answer (names lower-cased). Returns undefined when it carried none
 * that parse: garbage is ignored, never guessed at. `now` (epoch ms) turns an X-RateLimit-Reset date into a
 * delay. Several families in one answer are all read and the most restrictive reading wins.
 */
export function parseRateLimit(
  headers: Readonly<Record<string, string>>,
  now: number,
): RateLimitInfo | undefined {
  // Most apps send none of these: every answer passes here, so that case costs a few lookups.
  if (!RATE_LIMIT_HEADERS.some((name) => headers[name] !== undefined)) return undefined;
  const skip = new Set<string>();
  const quotas = [
    ...policies(headers['ratelimit-policy'], skip),
    ...limitField(headers['ratelimit-limit']),
    ...limitField(headers['x-ratelimit-limit']),
  ];
  const limits = serviceLimits(headers.ratelimit, now, skip, quotas);
  for (const [remainingName, resetName, epoch] of [
    ['ratelimit-remaining', 'ratelimit-reset', false],
    ['x-ratelimit-remaining', 'x-ratelimit-reset', true],
  ] as const) {
    const remaining = num(headers[remainingName]);
    if (remaining === undefined) continue;
    const resetMs = resetOf(headers[resetName], now, epoch);
    limits.push(resetMs === undefined ? { remaining } : { remaining, resetMs });
  }
  const quota = tightestQuota(quotas);
  const limit = tightestLimit(limits);
  if (!quota && !limit) return undefined;
  return {
    ...(quota ? { limit: quota.limit } : {}),
    ...(quota?.windowMs !== undefined ? { windowMs: quota.windowMs } : {}),
    ...(limit ? { remaining: limit.remaining } : {}),
    ...(limit?.resetMs !== undefined ? { resetMs: limit.resetMs } : {}),
  };
}
