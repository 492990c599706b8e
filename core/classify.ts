/** Response classification (DESIGN §4): what one downstream answer means for the message and the pacer. */
import type { Signal } from './pacer';
import type { DeliveryResult } from './ports';
import { parseRateLimit, type RateLimitInfo } from './rate-limit';
import { parseRetryAfter } from './retry-after';

/** Low-cardinality label of an answer; the `StatusClass` dimension of the Responses metric. */
export type StatusClass = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'timeout' | 'error';

/** What to do with the message after one attempt. */
export type Verdict =
  /** 2xx: record it delivered and delete it. */
  | {
      readonly kind: 'delivered';
      readonly status: number;
      readonly statusClass: '2xx';
      /** The quota the app announced with the answer (`RateLimit`, `X-RateLimit-*`), if any. */
      readonly rateLimit?: RateLimitInfo;
    }
  /** Overload or transient failure: keep the message at the head of its group and try again in place. */
  | {
      readonly kind: 'retry';
      readonly statusClass: StatusClass;
      readonly status?: number;
      /** The app's announced wait, ms from the answer (absent or unparseable: undefined). */
      readonly retryAfterMs?: number;
      /** Status line, error text or the first bytes of the body, for the DLQ if retries run out. */
      readonly detail: string;
      readonly rateLimit?: RateLimitInfo;
      /** The request could not even be made from this message (a header value the HTTP client refuses). */
      readonly unsendable?: true;
    }
  /** The app refused this webhook for good (3xx, most 4xx): DLQ with reason `rejected`. */
  | {
      readonly kind: 'permanent';
      readonly status: number;
      readonly statusClass: StatusClass;
      readonly detail: string;
      readonly rateLimit?: RateLimitInfo;
    };

/**
 * Error codes of a request that could not be built from the message (undici's InvalidArgumentError, Node's
 * header checks): the app was never asked, and the same message will fail the same way, whatever the app does.
 */
const UNSENDABLE_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_INVALID_ARG',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_HTTP_TOKEN',
]);

/** Statuses in the 4xx range that say "not now" rather than "never". */
const TRANSIENT_4XX: ReadonlySet<number> = new Set([408, 425, 429]);

/** The status class of an HTTP status. */
export function statusClassOf(status: number): StatusClass {
  if (status === 429) return '429';
  if (status >= 200 && status < 300) return '2xx';
  if (status >= 300 && status < 400) return '3xx';
  if (status >= 400 && status < 500) return '4xx';
  if (status >= 500 && status < 600) return '5xx';
  return 'error';
}

/**
 * Classifies one delivery attempt. 2xx delivered; 408/425/429, every 5xx, timeouts and connection errors
 * retry in place (honouring `Retry-After`); 3xx and other 4xx are permanent. A status outside 200–599 is a
 * broken answer, retried like a connection error. Rate-limit headers are read from every answer, 2xx too:
 * an app announces its quota before it runs out.
 */
export function classify(result: DeliveryResult, now: number): Verdict {
  if (result.kind === 'timeout') return { kind: 'retry', statusClass: 'timeout', detail: 'timeout' };
  if (result.kind === 'error') {
    const detail = `${result.code}: ${result.message}`;
    return UNSENDABLE_CODES.has(result.code)
      ? { kind: 'retry', statusClass: 'error', detail, unsendable: true }
      : { kind: 'retry', statusClass: 'error', detail };
  }
  const { status } = result;
  const statusClass = statusClassOf(status);
  const rateLimit = parseRateLimit(result.headers, now);
  const quota = rateLimit ? { rateLimit } : {};
  if (statusClass === '2xx') return { kind: 'delivered', status, statusClass, ...quota };
  // A redirect's body is rarely more than "Moved": where it points is what the operator needs (an http→https
  // or trailing-slash redirect means downstreamUrl is off by that much; Sluice does not follow them).
  const location = statusClass === '3xx' ? result.headers.location : undefined;
  const said = result.snippet.length > 0 ? result.snippet : `HTTP ${status}`;
  const detail = location ? `HTTP ${status} to ${location}: ${said}` : said;
  if (statusClass === '5xx' || statusClass === 'error' || TRANSIENT_4XX.has(status)) {
    const retryAfterMs = parseRetryAfter(result.headers['retry-after'], now);
    return {
      kind: 'retry',
      statusClass,
      status,
      detail,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...quota,
    };
  }
  return { kind: 'permanent', status, statusClass, detail, ...quota };
}

/**
 * The pacer signal of a classified answer. Only explicit overload (retry verdicts of requests that left) ever
 * cuts the rate; an announced quota rides along on every kind, and a 2xx carries the app's announced
 * processing time (`serviceMs`, from `Server-Timing`, see core/server-timing.ts) when there is one.
 */
export function signalOf(verdict: Verdict, rttMs: number, level?: number, serviceMs?: number): Signal {
  const quota = verdict.rateLimit ? { rateLimit: verdict.rateLimit } : {};
  switch (verdict.kind) {
    case 'delivered':
      return {
        kind: 'accepted',
        rttMs,
        ...(level === undefined ? {} : { level }),
        ...(serviceMs === undefined ? {} : { serviceMs }),
        ...quota,
      };
    case 'permanent':
      return { kind: 'rejected', rttMs, ...quota };
    case 'retry': {
      // The app never saw it: neither its round trip nor its failure is the app's.
      if (verdict.unsendable) return { kind: 'unsent' };
      // A 429 or 503 says "too busy": with the level it left at, it may be a concurrency limit (core/pacer.ts).
      const busy = verdict.status === 429 || verdict.status === 503;
      const refused = busy && level !== undefined ? { refusedAtLevel: level } : {};
      return verdict.retryAfterMs !== undefined
        ? { kind: 'overload', rttMs, retryAfterMs: verdict.retryAfterMs, ...refused, ...quota }
        : { kind: 'overload', rttMs, ...refused, ...quota };
    }
  }
}
