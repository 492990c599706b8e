/** Shopify-style webhooks for local mode, `npm run send` and the tests: realistic headers and bodies, signed. */
import { randomUUID } from 'node:crypto';
import { sign } from '../core/signature';

/**
 * The client secret local mode uses when none is given. Public by design (it is printed in the banner and
 * written here): it only ever signs test webhooks on loopback.
 */
export const DEV_SECRET = 'sluice-local-dev-secret-NOT-FOR-PRODUCTION';

/** The API version local webhooks claim to be serialised with. */
export const DEV_API_VERSION = '2026-01';

/** One webhook as Shopify would POST it. */
export interface Webhook {
  /** Path (and query) the webhook is posted to, e.g. `/webhooks`. */
  readonly path: string;
  /** Header names in Shopify's own spelling. */
  readonly headers: Readonly<Record<string, string>>;
  /** The exact body bytes (the signature is over these). */
  readonly body: Buffer;
  readonly shop: string;
  readonly topic: string;
  readonly webhookId: string;
  /** Position of this webhook in its shop's stream, from 0. */
  readonly seq: number;
  /** Which of the shop's resources it is about, from 0 (see WebhookOptions.resource). */
  readonly resource: number;
}

export interface WebhookOptions {
  readonly secret: string;
  readonly shop: string;
  readonly topic: string;
  readonly seq: number;
  /**
   * Which of the shop's resources (products, orders, …) it is about, from 0: its id in the body and in the
   * `X-Shopify-<Resource>-Id` header. @default seq (every webhook about a resource of its own)
   */
  readonly resource?: number;
  /** @default '/webhooks' */
  readonly path?: string;
  /** Trigger time, epoch ms. @default Date.now() */
  readonly now?: number;
}

/** A realistic shop domain for the i-th test shop (0-based). */
export const shopDomain = (i: number): string => `sluice-demo-${i + 1}.myshopify.com`;

// Shopify's documented sample product id: above 2^53, so a JSON.parse/stringify round trip would change it.
const BASE_ID = 788032119674292922n;

// `products/update` → `Product`: the resource name in the gid.
function resourceOf(topic: string): string {
  const head = topic.split('/')[0] ?? 'product';
  const singular = head.endsWith('ies') ? `${head.slice(0, -3)}y` : head.replace(/s$/, '');
  return singular
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

// RFC 3339 with nanoseconds, like X-Shopify-Triggered-At.
const triggeredAt = (ms: number): string => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');

/**
 * The body Shopify would send, written as text on purpose: ids beyond 2^53 stay exact, `/` is escaped as
 * `\/` inside gids and HTML, and titles carry non-ASCII, so any re-serialisation on the way breaks the HMAC.
 * Characters stay inside the BMP: fauxqs 1.9.2 rejects astral characters (emoji) that real SQS accepts.
 */
export function webhookBody(topic: string, seq: number, now: number, resourceIndex = seq): string {
  const resource = resourceOf(topic);
  const id = (BASE_ID + BigInt(resourceIndex)).toString();
  const variantId = (BASE_ID * 10n + BigInt(seq)).toString();
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, '-00:00');
  return (
    `{"id":${id},"title":"Café crème T-Shirt — Größe M #${seq}","body_html":"<p>Ünïcödé: 日本語 and \\"quotes\\"<\\/p>",` +
    `"vendor":"Sluice Démo","product_type":"Shirts","handle":"cafe-creme-t-shirt-${seq}","updated_at":"${at}",` +
    `"status":"active","tags":"flood, ordered","sequence":${seq},` +
    `"admin_graphql_api_id":"gid:\\/\\/shopify\\/${resource}\\/${id}",` +
    `"variants":[{"id":${variantId},"price":"19.00","sku":"SKU-${seq}",` +
    `"admin_graphql_api_id":"gid:\\/\\/shopify\\/ProductVariant\\/${variantId}"}]}`
  );
}

/** A signed webhook with every header a classic Shopify delivery carries. */
export function makeWebhook(options: WebhookOptions): Webhook {
  const now = options.now ?? Date.now();
  const resourceIndex = options.resource ?? options.seq;
  const body = Buffer.from(webhookBody(options.topic, options.seq, now, resourceIndex), 'utf8');
  const webhookId = randomUUID();
  const resource = resourceOf(options.topic);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'Shopify-Captain-Hook',
    Accept: '*/*',
    'X-Shopify-Topic': options.topic,
    'X-Shopify-Hmac-Sha256': sign(options.secret, body),
    'X-Shopify-Shop-Domain': options.shop,
    'X-Shopify-API-Version': DEV_API_VERSION,
    'X-Shopify-Webhook-Id': webhookId,
    'X-Shopify-Triggered-At': triggeredAt(now),
    'X-Shopify-Event-Id': randomUUID(),
  };
  // A topic-specific extra header, seen from Shopify on products/* and orders/* only: forwarded like the rest,
  // and what the default ordering key groups by.
  if (/^(products|orders)\//.test(options.topic)) {
    headers[`X-Shopify-${resource}-Id`] = (BASE_ID + BigInt(resourceIndex)).toString();
  }
  return {
    path: options.path ?? '/webhooks',
    headers,
    body,
    shop: options.shop,
    topic: options.topic,
    webhookId,
    seq: options.seq,
    resource: resourceIndex,
  };
}

/**
 * `count` webhooks spread over `shops` shops round-robin, each shop's `seq` counting up from 0, in the order
 * they should arrive.
 */
export function makeFlood(options: {
  readonly count: number;
  readonly shops: number;
  readonly topic: string;
  readonly secret: string;
  readonly path?: string;
  /** Resources per shop the webhooks cycle over (seq mod this). @default one per webhook */
  readonly resources?: number;
}): Webhook[] {
  const out: Webhook[] = [];
  const next = new Array<number>(options.shops).fill(0);
  for (let i = 0; i < options.count; i++) {
    const s = i % options.shops;
    const seq = next[s]!;
    next[s] = seq + 1;
    out.push(
      makeWebhook({
        secret: options.secret,
        shop: shopDomain(s),
        topic: options.topic,
        seq,
        ...(options.resources ? { resource: seq % options.resources } : {}),
        ...(options.path ? { path: options.path } : {}),
      }),
    );
  }
  return out;
}
