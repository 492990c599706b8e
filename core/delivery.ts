/** The delivery request: the app's unchanged endpoint, the webhook's own headers, the exact body bytes. */
import type { Envelope } from './contract';
import type { DeliveryRequest } from './ports';
import { SLUICE_HEADERS } from './resources';

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones the HTTP client
 * must compute itself. Forwarding them would corrupt the framing of the new request.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/** `https://app.example.com/` + `/webhooks?a=1` → `https://app.example.com/webhooks?a=1` (one slash). */
export function joinUrl(base: string, target: string): string {
  const b = base.endsWith('/') ? base.slice(0, -1) : base;
  if (target.length === 0) return `${b}/`;
  return target.startsWith('/') || target.startsWith('?') ? `${b}${target}` : `${b}/${target}`;
}

/** The forwarded headers: the envelope's exactly (minus hop-by-hop ones), then Sluice's own. */
export function deliveryHeaders(envelope: Envelope, attempt: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(envelope.headers)) {
    if (!HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  out[SLUICE_HEADERS.attempt] = String(attempt);
  out[SLUICE_HEADERS.receivedAt] = new Date(envelope.receivedAt).toISOString();
  return out;
}

/**
 * Builds the POST for attempt number `attempt` (1-based). The body is passed through untouched: it is the
 * exact byte sequence Shopify signed, so it must never be parsed or re-encoded on the way.
 */
export function buildDelivery(
  downstreamUrl: string,
  envelope: Envelope,
  body: string | Uint8Array,
  attempt: number,
): DeliveryRequest {
  return { url: joinUrl(downstreamUrl, envelope.target), headers: deliveryHeaders(envelope, attempt), body };
}
