/** The edge's header screening (DESIGN §2): shape checks and allow-lists, pure, no body and no secret. */
import type { SluiceConfig } from './config';
import {
  type Envelope,
  envelopeOf,
  groupIdOf,
  type IncomingRequest,
  MAX_GROUP_ID_LENGTH,
  type OrderingKey,
  unsafeTarget,
} from './contract';
import { type Headers, REQUIRED_FIELDS, type ShopifyField, shopifyHeader } from './headers';
import { isWellFormedSignature } from './signature';

/** What the edge accepts besides well-formed Shopify headers. Empty lists allow everything of the right shape. */
export interface ScreeningRules {
  /** Shop domains allowed; empty allows any `*.myshopify.com`. */
  readonly allowedShops: readonly string[];
  /** Topics allowed; empty allows any well-formed topic. */
  readonly allowedTopics: readonly string[];
}

/** Rules that allow every well-formed Shopify webhook. */
export const OPEN_RULES: ScreeningRules = { allowedShops: [], allowedTopics: [] };

/** The screening rules of a configuration. */
export function rulesOf(config: Pick<SluiceConfig, 'allowedShops' | 'allowedTopics'>): ScreeningRules {
  return { allowedShops: config.allowedShops, allowedTopics: config.allowedTopics };
}

/** Why a request was turned away at the edge. Stable codes: logs and the verify route's JSON errors use them. */
export type ScreeningFailure =
  | 'missing-header'
  | 'malformed-signature'
  | 'malformed-shop'
  | 'shop-not-allowed'
  | 'malformed-topic'
  | 'topic-not-allowed'
  | 'malformed-webhook-id'
  | 'malformed-api-version'
  | 'group-id-too-long'
  | 'unsafe-path';

/** The outcome of screening: an envelope ready to encode, or a stable failure code with a human detail. */
export type ScreeningResult =
  | { readonly ok: true; readonly envelope: Envelope }
  | { readonly ok: false; readonly failure: ScreeningFailure; readonly detail: string };

/** Shopify sends the lower-case `myshopify.com` domain; anything else cannot be a Shopify delivery. */
export const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]{0,99}\.myshopify\.com$/;
/**
 * `products/update`, `customers/data_request`, `bulk_operations/finish` …, and the shapes Shopify sends besides
 * those: `customer.tags_added` (a classic topic since 2023-07) and an Events delivery's resource name,
 * `Product`, without a slash. Refusing a real topic loses its webhooks (Shopify retries, then gives up). What
 * is kept out: anything that could not sit in an SQS group id or a log field (spaces, quotes, other
 * punctuation).
 */
export const TOPIC = /^[A-Za-z0-9_.-]{1,64}(\/[A-Za-z0-9_.-]{1,64}){0,3}$/;
/**
 * The webhook id is part of the SQS deduplication id (contract.ts dedupIdOf) and is the group id under ordering
 * `none`: SQS allows ≤128 punctuation-or-alphanumeric characters; Shopify's ids are UUIDs. A narrower set keeps
 * ids safe as S3 keys and log fields too.
 */
export const WEBHOOK_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** `2026-01`, or `unstable`. */
export const API_VERSION = /^(\d{4}-\d{2}|unstable)$/;

const fail = (failure: ScreeningFailure, detail: string): ScreeningResult => ({ ok: false, failure, detail });

/**
 * Screens a request's Shopify headers (either spelling, any case) against the shapes Shopify sends and the
 * allow-lists, and builds its envelope. `stripPrefix` removes the verified route's prefix from the target.
 * Never throws: every rejection is a `ScreeningFailure`.
 */
export function screen(
  req: IncomingRequest,
  rules: ScreeningRules,
  ordering: OrderingKey,
  stripPrefix?: string,
): ScreeningResult {
  const h: Headers = req.headers;
  const missing = REQUIRED_FIELDS.filter((f: ShopifyField) => !shopifyHeader(h, f));
  if (missing.length > 0) return fail('missing-header', `missing Shopify header(s): ${missing.join(', ')}`);
  const hmac = shopifyHeader(h, 'hmac')!;
  const shop = shopifyHeader(h, 'shop')!;
  const topic = shopifyHeader(h, 'topic')!;
  const webhookId = shopifyHeader(h, 'webhookId')!;
  const apiVersion = shopifyHeader(h, 'apiVersion')!;
  if (!isWellFormedSignature(hmac)) return fail('malformed-signature', 'signature is not base64 of 32 bytes');
  if (!SHOP_DOMAIN.test(shop)) return fail('malformed-shop', 'shop domain is not <name>.myshopify.com');
  if (rules.allowedShops.length > 0 && !rules.allowedShops.includes(shop)) {
    return fail('shop-not-allowed', `shop ${shop} is not in allowedShops`);
  }
  if (!TOPIC.test(topic)) {
    return fail('malformed-topic', 'topic is not like products/update, customer.tags_added or Product');
  }
  if (rules.allowedTopics.length > 0 && !rules.allowedTopics.includes(topic)) {
    return fail('topic-not-allowed', `topic ${topic} is not in allowedTopics`);
  }
  if (!WEBHOOK_ID.test(webhookId)) {
    return fail('malformed-webhook-id', 'webhook id is not 1-128 characters of [A-Za-z0-9._:-]');
  }
  if (!API_VERSION.test(apiVersion)) return fail('malformed-api-version', 'API version is not YYYY-MM');
  const envelope = envelopeOf(req, stripPrefix);
  const unsafe = unsafeTarget(envelope.target);
  if (unsafe) return fail('unsafe-path', unsafe);
  if (groupIdOf(ordering, envelope).length > MAX_GROUP_ID_LENGTH) {
    return fail('group-id-too-long', `message group id exceeds ${MAX_GROUP_ID_LENGTH} characters`);
  }
  return { ok: true, envelope };
}
