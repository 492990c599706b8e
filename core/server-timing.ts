/** `Server-Timing` (W3C Server Timing, §3): the app's own processing time of one request, when it announces it. */

// Grammar (https://w3c.github.io/server-timing/#the-server-timing-header-field):
//   Server-Timing = #server-timing-metric
//   server-timing-metric = metric-name *( OWS ";" OWS server-timing-param )
//   server-timing-param = server-timing-param-name OWS "=" OWS server-timing-param-value
//   metric-name and param names are tokens, a param value is a token or a quoted-string; `dur` is in ms.
// Examples: `app;dur=47.2`, `db;dur=53, app;dur=47.2`, `cache;desc="Cache Read";dur=23.2`, `miss, total;dur=123`.
// Rails (ActionDispatch::ServerTiming) and most frameworks' middleware emit this form. Repeated fields arrive
// joined with ", " (the adapters join them), which is the same list. The spec says to use the first occurrence of
// a parameter and to ignore metrics that do not parse; a metric named twice is read from its first occurrence.

import { split, unquote } from './header-lists';

/** A token (RFC 9110 §5.6.2): what a metric name must be. */
export const METRIC_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/** Longest processing time believed, ms: anything longer is not a per-request figure. */
const MAX_DURATION_MS = 600_000;

/**
 * The `dur` of metric `metric` in a `Server-Timing` header value, ms; undefined when the header is absent, the
 * metric is missing or malformed, or its duration is not a finite number in 0 … 600 000.
 */
export function serviceTimeMs(header: string | undefined, metric: string): number | undefined {
  if (header === undefined || metric.length === 0) return undefined;
  for (const item of split(header, ',')) {
    const [name, ...params] = split(item, ';').map((x) => x.trim());
    if (name !== metric) continue;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'dur') continue;
      const raw = unquote(param.slice(eq + 1)).text;
      // A number as the spec's parser reads it, and nothing else (no "12ms", no hex).
      if (!/^\d+(\.\d+)?$/.test(raw)) return undefined;
      const ms = Number(raw);
      return ms <= MAX_DURATION_MS ? ms : undefined;
    }
    // The first metric with this name decides, even without a duration.
    return undefined;
  }
  return undefined;
}
