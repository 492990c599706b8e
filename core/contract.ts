/** The queue message: the one contract between the ingress half and the delivery half (DESIGN §3). */
import { createHash } from 'node:crypto';
import { forwardedHeaders, type Headers, REQUIRED_FIELDS, shopifyHeader } from './headers';

/** SQS's hard cap on one message, body plus attributes: the DLQ is configured to it. */
export const SQS_MAX_MESSAGE_BYTES = 1_048_576;
/**
 * Room a dead-lettered copy needs beyond the message itself: its `Failure` attribute without the app's answer
 * (reason, status, attempts, times and ids: under 300 bytes). The copy drops the answer when it would not fit.
 */
export const DEAD_LETTER_HEADROOM_BYTES = 1_024;
/**
 * The webhook queue's cap, body plus attributes: SQS's, less the DLQ's headroom. A message that filled SQS's
 * whole megabyte could not be dead-lettered with its reason: the drainer would retry the move until SQS's own
 * redrive took it, about 17 hours later and without the reason, with its group blocked behind it (and anyone who
 * knows a shop's domain can post such a body to the main route).
 */
export const MAX_MESSAGE_BYTES = SQS_MAX_MESSAGE_BYTES - DEAD_LETTER_HEADROOM_BYTES;

/** Message attribute names. SQS allows 10; everything optional travels inside `Headers`. */
export const ATTR = {
  hmac: 'Hmac',
  topic: 'Topic',
  shop: 'Shop',
  webhookId: 'WebhookId',
  apiVersion: 'ApiVersion',
  target: 'Target',
  receivedAt: 'ReceivedAt',
  headers: 'Headers',
  claimCheck: 'ClaimCheck',
} as const;

/** Body of a message whose real body is in S3 (SQS bodies cannot be empty). */
export const CLAIM_CHECK_BODY = 'sluice:claim-check';

/**
 * How webhooks are grouped for ordering. Order holds within a group; groups are delivered side by side, and
 * a group's webhooks one at a time (at most one per app round trip).
 * - `resource`: per shop and resource, when Shopify names the resource in a header (`X-Shopify-Product-Id`,
 *   `X-Shopify-Order-Id`, …), else per shop. A bulk edit of many products then spreads over as many groups,
 *   while the updates of one product keep their order.
 * - `shop`, `shop-topic`: per shop, per shop and topic. `global`: one group. `none`: no order.
 */
export type OrderingKey = 'resource' | 'shop' | 'shop-topic' | 'global' | 'none';
export const ORDERING_KEYS: readonly OrderingKey[] = ['resource', 'shop', 'shop-topic', 'global', 'none'];

/** SQS's cap on a message group id. */
export const MAX_GROUP_ID_LENGTH = 128;

// `x-shopify-product-id` or `shopify-product-id`: the kind is what lies between the prefix and `-id`.
const RESOURCE_HEADER = /^(?:x-)?shopify-([a-z][a-z0-9-]{0,31})-id$/;
// Ids of the delivery itself, not of the resource it is about (one per webhook: no order at all), or of the shop.
const NOT_RESOURCES = new Set(['webhook', 'event', 'shop']);
const RESOURCE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
// Events deliveries name the resource as a global id (`shopify-resource-id: gid://shopify/Product/123`).
const GLOBAL_ID = /^gid:\/\/shopify\/([A-Za-z][A-Za-z0-9]{0,31})\/([A-Za-z0-9_.:-]{1,64})$/;

/** `ProductVariant` → `product-variant`, `InventoryItem` → `inventory-item`: the kind as headers spell it. */
const kebab = (type: string): string => type.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

/** `products/update` → `product`, `inventory_items/create` → `inventory-item`: the kind a topic is about. */
function topicKind(topic: string): string {
  const head = (topic.split('/')[0] ?? '').toLowerCase().replace(/_/g, '-');
  return head.endsWith('ies') ? `${head.slice(0, -3)}y` : head.replace(/s$/, '');
}

/**
 * The resource a webhook is about, from the headers some topics carry (`X-Shopify-Product-Id: 123` or
 * `shopify-resource-id: gid://shopify/Product/123` → `product:123`), or undefined. Several: the one of the
 * topic's own kind (`orders/*` → the order), else the alphabetically first kind, so every delivery about the
 * same resource picks the same one.
 */
export function resourceOf(headers: Readonly<Record<string, string>>, topic = ''): string | undefined {
  const found: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    const kind = RESOURCE_HEADER.exec(name.toLowerCase())?.[1];
    if (kind === undefined || NOT_RESOURCES.has(kind)) continue;
    // A repeated header arrives joined with commas: the same id each time is still that id.
    const ids = [...new Set(value.split(',').map((v) => v.trim()))];
    const id = ids.length === 1 ? (ids[0] ?? '') : '';
    const global = GLOBAL_ID.exec(id);
    if (global) found.push([kebab(global[1]!), global[2]!]);
    else if (kind !== 'resource' && RESOURCE_ID.test(id)) found.push([kind, id]);
  }
  const own = topicKind(topic);
  found.sort(([a], [b]) => (a === own ? -1 : b === own ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const first = found[0];
  return first ? `${first[0]}:${first[1]}` : undefined;
}

/** Everything Sluice knows about one webhook besides its body. */
export interface Envelope {
  readonly hmac: string;
  readonly topic: string;
  readonly shop: string;
  readonly webhookId: string;
  readonly apiVersion: string;
  /** Original path and query, e.g. `/webhooks/products?app=1`; appended to the downstream base URL. */
  readonly target: string;
  /** When Sluice accepted it, epoch ms. */
  readonly receivedAt: number;
  /** The headers forwarded to the app, names lower-cased, values as received (Shopify's and content-type). */
  readonly headers: Readonly<Record<string, string>>;
  /** S3 key of the body when it did not fit in the message. */
  readonly claimCheck?: string;
}

/** A message ready for `SendMessage`. */
export interface OutgoingMessage {
  readonly body: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Why a queued message could not be read back; such a message goes to the DLQ with this code. */
export class ContractError extends Error {
  readonly code = 'contract';
  constructor(message: string) {
    super(message);
    this.name = 'ContractError';
  }
}

/** The part of a request the contract needs. Header names may come in any case or spelling. */
export interface IncomingRequest {
  readonly headers: Headers;
  /** The path as received (API Gateway `rawPath`). */
  readonly path: string;
  /** The raw query string without `?`. */
  readonly query?: string;
  readonly receivedAt: number;
}

/** `/verified/webhooks/x` → `/webhooks/x`: the app sees the path it was subscribed under. */
export function targetOf(path: string, query: string | undefined, stripPrefix?: string): string {
  let p = path.length === 0 ? '/' : path;
  if (stripPrefix && (p === stripPrefix || p.startsWith(`${stripPrefix}/`))) {
    p = p.slice(stripPrefix.length) || '/';
  }
  return query ? `${p}?${query}` : p;
}

/** The envelope of a screened request. Throws ContractError when a required Shopify header is missing. */
export function envelopeOf(req: IncomingRequest, stripPrefix?: string): Envelope {
  const missing = REQUIRED_FIELDS.filter((f) => !shopifyHeader(req.headers, f));
  if (missing.length > 0) throw new ContractError(`missing Shopify header(s): ${missing.join(', ')}`);
  return {
    hmac: shopifyHeader(req.headers, 'hmac')!,
    topic: shopifyHeader(req.headers, 'topic')!,
    shop: shopifyHeader(req.headers, 'shop')!,
    webhookId: shopifyHeader(req.headers, 'webhookId')!,
    apiVersion: shopifyHeader(req.headers, 'apiVersion')!,
    target: targetOf(req.path, req.query, stripPrefix),
    receivedAt: req.receivedAt,
    headers: forwardedHeaders(req.headers),
  };
}

/** The FIFO message group for a webhook under an ordering key. */
export function groupIdOf(
  ordering: OrderingKey,
  env: Pick<Envelope, 'shop' | 'topic' | 'webhookId' | 'headers'>,
): string {
  switch (ordering) {
    case 'resource': {
      const resource = resourceOf(env.headers, env.topic);
      if (resource === undefined) return env.shop;
      const group = `${env.shop}/${resource}`;
      // A long shop domain with a long id: a digest keeps the group (same resource, same digest) within SQS's cap.
      return group.length <= MAX_GROUP_ID_LENGTH ? group : createHash('sha256').update(group).digest('hex');
    }
    case 'shop':
      return env.shop;
    case 'shop-topic':
      return `${env.shop}:${env.topic}`;
    case 'global':
      return 'all';
    case 'none':
      return env.webhookId;
  }
}

/** The message attributes of an envelope, as plain strings (every value non-empty, as SQS requires). */
export function attributesOf(env: Envelope): Record<string, string> {
  const attrs: Record<string, string> = {
    [ATTR.hmac]: env.hmac,
    [ATTR.topic]: env.topic,
    [ATTR.shop]: env.shop,
    [ATTR.webhookId]: env.webhookId,
    [ATTR.apiVersion]: env.apiVersion,
    [ATTR.target]: env.target,
    [ATTR.receivedAt]: String(env.receivedAt),
    [ATTR.headers]: JSON.stringify(env.headers),
  };
  if (env.claimCheck) attrs[ATTR.claimCheck] = env.claimCheck;
  return attrs;
}

/**
 * The queue's deduplication id: a digest of the webhook id with its signature. Shopify's repeated deliveries of
 * a webhook carry both unchanged, so SQS still drops them within its 5-minute window. On the direct route the id
 * is taken before any signature check, so a forgery that borrowed a real webhook's id would otherwise make SQS
 * drop the real one behind it (answered 200, so Shopify would not retry): the forgery's signature differs.
 */
export function dedupIdOf(env: Pick<Envelope, 'webhookId' | 'hmac'>): string {
  return createHash('sha256').update(`${env.webhookId}\n${env.hmac}`).digest('hex');
}

/** Encodes a webhook for the queue. The body is carried as received, never parsed. */
export function encode(env: Envelope, body: string, ordering: OrderingKey): OutgoingMessage {
  return {
    body: env.claimCheck ? CLAIM_CHECK_BODY : body,
    groupId: groupIdOf(ordering, env),
    dedupId: dedupIdOf(env),
    attributes: attributesOf(env),
  };
}

/** Size as SQS counts it: body bytes plus each attribute's name, type and value bytes. */
export function messageBytes(body: string, attributes: Readonly<Record<string, string>>): number {
  let n = Buffer.byteLength(body, 'utf8');
  for (const [name, value] of Object.entries(attributes)) {
    n += Buffer.byteLength(name, 'utf8') + 'String'.length + Buffer.byteLength(value, 'utf8');
  }
  return n;
}

/** SQS stores only XML 1.0 characters and silently replaces the rest: such a body cannot travel inline. */
export function isSqsSafe(body: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point.
  return !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(
    body,
  );
}

/** A received message attribute as the AWS SDK returns it. */
export interface AttributeValue {
  readonly StringValue?: string;
}

/** Reads a queued message back. Throws ContractError when an attribute is missing or malformed. */
export function decode(
  body: string | undefined,
  attributes: Readonly<Record<string, AttributeValue>> | undefined,
): { envelope: Envelope; body: string } {
  const a = attributes ?? {};
  const get = (name: string): string => {
    const v = a[name]?.StringValue;
    if (v === undefined || v === '') throw new ContractError(`message attribute ${name} is missing`);
    return v;
  };
  const receivedAt = Number(get(ATTR.receivedAt));
  if (!Number.isFinite(receivedAt))
    throw new ContractError(`message attribute ${ATTR.receivedAt} is not a number`);
  let headers: unknown;
  try {
    headers = JSON.parse(get(ATTR.headers));
  } catch {
    throw new ContractError(`message attribute ${ATTR.headers} is not JSON`);
  }
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new ContractError(`message attribute ${ATTR.headers} is not an object`);
  }
  const forwarded: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw new ContractError(`header ${k} in ${ATTR.headers} is not a string`);
    forwarded[k] = v;
  }
  const claimCheck = a[ATTR.claimCheck]?.StringValue;
  const envelope: Envelope = {
    hmac: get(ATTR.hmac),
    topic: get(ATTR.topic),
    shop: get(ATTR.shop),
    webhookId: get(ATTR.webhookId),
    apiVersion: get(ATTR.apiVersion),
    target: get(ATTR.target),
    receivedAt,
    headers: forwarded,
    ...(claimCheck ? { claimCheck } : {}),
  };
  if (body === undefined) throw new ContractError('message has no body');
  return { envelope, body };
}

/**
 * Why a webhook's path may not be appended to the downstream URL, or undefined: a `.` or `..` segment (also
 * percent-encoded, or split by a backslash, which URL parsers read as a slash) would climb out of the
 * downstream URL's base path once the HTTP client normalises it (`/shopify/webhooks` + `/%2e%2e/admin` →
 * `/shopify/admin`). Shopify never sends one; a replayed, signed body with such a path could reach another
 * endpoint of the app.
 */
export function unsafeTarget(target: string): string | undefined {
  // URL parsers drop tabs and line breaks and cut at `#`: `/.\t./x` and `/..#/x` are dot segments once parsed.
  const control = [...target].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (control || target.includes('#')) return 'the path has a control character or a "#"';
  const path = target.split('?')[0] ?? '';
  for (const segment of path.split(/[/\\]|%5c/i)) {
    const plain = segment.replace(/%2e/gi, '.');
    if (plain === '.' || plain === '..') return `the path ${path} has a "${segment}" segment`;
  }
  // And whatever a parser makes of it, it must stay under the base it is appended to.
  const resolved = new URL(`http://sluice.invalid/base${target.startsWith('/') ? '' : '/'}${target}`)
    .pathname;
  if (resolved !== '/base' && !resolved.startsWith('/base/'))
    return `the path ${path} resolves outside its base`;
  return undefined;
}
