/** Shopify header names: case-insensitive lookup and the `shopify-*` (Events) spellings without `X-`. */

/** A header map as Node, API Gateway or undici hand it over. */
export type RawHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Lower-cased header names; repeated values joined with `, ` (as API Gateway does). */
export type Headers = Readonly<Record<string, string>>;

/** The Shopify headers Sluice reads, by their suffix after `x-shopify-` / `shopify-`. */
export const SHOPIFY = {
  hmac: 'hmac-sha256',
  topic: 'topic',
  shop: 'shop-domain',
  apiVersion: 'api-version',
  webhookId: 'webhook-id',
  triggeredAt: 'triggered-at',
  eventId: 'event-id',
} as const;

export type ShopifyField = keyof typeof SHOPIFY;

/** Headers every classic Shopify delivery carries and the official app library requires. */
export const REQUIRED_FIELDS: readonly ShopifyField[] = ['hmac', 'topic', 'shop', 'apiVersion', 'webhookId'];

/** The classic spelling of a required header, as API Gateway identity sources name it. */
export const classicHeaderName = (field: ShopifyField): string => `x-shopify-${SHOPIFY[field]}`;

/**
 * Lower-cases names and joins repeated values with a bare comma, as API Gateway's payload 2.0 does
 * (`"header2": "value1,value2"`), so every lookup below is case-insensitive and local mode forwards the same
 * values the deployed stack does.
 */
export function normalizeHeaders(raw: RawHeaders): Headers {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const joined = typeof value === 'string' ? value : value.join(',');
    out[key] = out[key] === undefined ? joined : `${out[key]},${joined}`;
  }
  return out;
}

/** The value of a Shopify header in either spelling (`X-Shopify-Topic` or `shopify-topic`). */
export function shopifyHeader(headers: Headers, field: ShopifyField): string | undefined {
  const suffix = SHOPIFY[field];
  return headers[`x-shopify-${suffix}`] ?? headers[`shopify-${suffix}`];
}

/** Headers that are forwarded to the app: every Shopify header plus the content description. */
export function isForwardedHeader(name: string): boolean {
  const n = name.toLowerCase();
  return n.startsWith('x-shopify-') || n.startsWith('shopify-') || n === 'content-type' || n === 'user-agent';
}

/** The subset of `headers` that the app receives again on delivery, names lower-cased. */
export function forwardedHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (isForwardedHeader(name)) out[name] = value;
  }
  return out;
}
