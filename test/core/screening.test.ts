import { normalizeHeaders } from '../../core/headers';
import { OPEN_RULES, type ScreeningFailure, type ScreeningRules, screen } from '../../core/screening';
import { eventsSpelling, RECEIVED_AT, shopifyHeaders } from '../helpers/webhooks';

const request = (headers: Record<string, string>, path = '/webhooks/products', query?: string) => ({
  headers: normalizeHeaders(headers),
  path,
  ...(query === undefined ? {} : { query }),
  receivedAt: RECEIVED_AT,
});

describe('screen', () => {
  it('accepts a well-formed classic delivery and builds its envelope', () => {
    const result = screen(request(shopifyHeaders(), '/webhooks/products', 'a=1'), OPEN_RULES, 'shop');
    expect(result).toMatchObject({
      ok: true,
      envelope: {
        shop: 'my-store.myshopify.com',
        topic: 'products/update',
        webhookId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
        apiVersion: '2026-01',
        target: '/webhooks/products?a=1',
        receivedAt: RECEIVED_AT,
      },
    });
  });

  it('accepts the Events spelling (shopify-*) as the same headers', () => {
    const result = screen(request(eventsSpelling(shopifyHeaders())), OPEN_RULES, 'shop');
    expect(result.ok).toBe(true);
  });

  it('matches header names case-insensitively', () => {
    const upper: Record<string, string> = {};
    for (const [k, v] of Object.entries(shopifyHeaders())) upper[k.toUpperCase()] = v;
    expect(screen(request(upper), OPEN_RULES, 'shop').ok).toBe(true);
  });

  it('strips the verified prefix from the target when asked', () => {
    const result = screen(request(shopifyHeaders(), '/verified/webhooks/x'), OPEN_RULES, 'shop', '/verified');
    expect(result.ok && result.envelope.target).toBe('/webhooks/x');
  });

  const cases: ReadonlyArray<[string, Record<string, string | undefined>, ScreeningFailure]> = [
    ['no signature', { 'x-shopify-hmac-sha256': undefined }, 'missing-header'],
    ['no topic', { 'x-shopify-topic': undefined }, 'missing-header'],
    ['no shop', { 'x-shopify-shop-domain': undefined }, 'missing-header'],
    ['no API version', { 'x-shopify-api-version': undefined }, 'missing-header'],
    ['no webhook id', { 'x-shopify-webhook-id': undefined }, 'missing-header'],
    ['an empty signature', { 'x-shopify-hmac-sha256': '' }, 'missing-header'],
    ['a hex signature', { 'x-shopify-hmac-sha256': 'ab'.repeat(32) }, 'malformed-signature'],
    [
      'a 31-byte signature',
      { 'x-shopify-hmac-sha256': Buffer.alloc(31).toString('base64') },
      'malformed-signature',
    ],
    ['a url-safe base64 signature', { 'x-shopify-hmac-sha256': `${'_'.repeat(43)}=` }, 'malformed-signature'],
    ['a shop outside myshopify.com', { 'x-shopify-shop-domain': 'evil.example.com' }, 'malformed-shop'],
    ['a shop suffix trick', { 'x-shopify-shop-domain': 'a.myshopify.com.evil.io' }, 'malformed-shop'],
    ['an upper-case shop', { 'x-shopify-shop-domain': 'My-Store.myshopify.com' }, 'malformed-shop'],
    ['a topic with spaces', { 'x-shopify-topic': 'products/ update' }, 'malformed-topic'],
    ['a topic with a quote', { 'x-shopify-topic': 'products/"update' }, 'malformed-topic'],
    ['a topic of five levels', { 'x-shopify-topic': 'a/b/c/d/e' }, 'malformed-topic'],
    ['an empty topic level', { 'x-shopify-topic': 'products//update' }, 'malformed-topic'],
    ['a webhook id with a space', { 'x-shopify-webhook-id': 'a b' }, 'malformed-webhook-id'],
    ['a webhook id with a slash', { 'x-shopify-webhook-id': 'a/b' }, 'malformed-webhook-id'],
    ['a 129-character webhook id', { 'x-shopify-webhook-id': 'a'.repeat(129) }, 'malformed-webhook-id'],
    ['an API version like a date', { 'x-shopify-api-version': '2026-01-01' }, 'malformed-api-version'],
    ['an API version word', { 'x-shopify-api-version': 'latest' }, 'malformed-api-version'],
  ];
  it.each(cases)('rejects %s', (_, overrides, failure) => {
    const result = screen(request(shopifyHeaders(undefined, overrides)), OPEN_RULES, 'shop');
    expect(result).toMatchObject({ ok: false, failure });
  });

  it.each([
    ['a 128-character webhook id', { 'x-shopify-webhook-id': 'a'.repeat(128) }],
    ['the unstable API version', { 'x-shopify-api-version': 'unstable' }],
    ['a compliance topic', { 'x-shopify-topic': 'customers/data_request' }],
    ['a two-level topic', { 'x-shopify-topic': 'app_subscriptions/update' }],
    // Shopify sends these too: refusing them would lose their webhooks.
    ['a dotted topic (customer tags, since 2023-07)', { 'x-shopify-topic': 'customer.tags_added' }],
    ["an Events delivery's resource name", { 'x-shopify-topic': 'Product' }],
  ])('accepts %s', (_, overrides) => {
    expect(screen(request(shopifyHeaders(undefined, overrides)), OPEN_RULES, 'shop').ok).toBe(true);
  });

  const listed: ScreeningRules = {
    allowedShops: ['my-store.myshopify.com'],
    allowedTopics: ['orders/create'],
  };
  it.each<[string, Record<string, string>, ScreeningRules, ScreeningFailure | 'ok']>([
    [
      'rejects a shop not on the allow-list',
      { 'x-shopify-shop-domain': 'other.myshopify.com' },
      { ...OPEN_RULES, allowedShops: ['my-store.myshopify.com'] },
      'shop-not-allowed',
    ],
    [
      'accepts a shop on the allow-list',
      {},
      { ...OPEN_RULES, allowedShops: ['my-store.myshopify.com'] },
      'ok',
    ],
    ['rejects a topic not on the allow-list', {}, listed, 'topic-not-allowed'],
    ['accepts a topic on the allow-list', { 'x-shopify-topic': 'orders/create' }, listed, 'ok'],
  ])('%s', (_, overrides, rules, expected) => {
    const result = screen(request(shopifyHeaders(undefined, overrides)), rules, 'shop');
    if (expected === 'ok') expect(result.ok).toBe(true);
    else expect(result).toMatchObject({ ok: false, failure: expected });
  });

  it('rejects a shop-topic group id longer than SQS allows', () => {
    const shop = `${'s'.repeat(100)}.myshopify.com`;
    const headers = shopifyHeaders(undefined, {
      'x-shopify-shop-domain': shop,
      'x-shopify-topic': 'products/update',
    });
    expect(screen(request(headers), OPEN_RULES, 'shop-topic')).toMatchObject({
      ok: false,
      failure: 'group-id-too-long',
    });
    expect(screen(request(headers), OPEN_RULES, 'shop').ok).toBe(true);
  });

  // The HTTP client normalises dot segments: `/shopify/webhooks` + `/%2e%2e/admin` reached `/shopify/admin`.
  it.each([
    '/../admin',
    '/webhooks/./x',
    '/%2e%2e/%2E%2E/admin/delete-all',
    '/webhooks/.%2e/admin',
    '/webhooks\\..\\admin',
    '/webhooks/..%5cadmin',
    '/..#/x',
    '/.\t./admin',
    '/%2e\n%2e/admin',
    '/..\r/admin',
  ])('rejects a path with a dot segment: %s', (path) => {
    expect(screen(request(shopifyHeaders(), path), OPEN_RULES, 'shop')).toMatchObject({
      ok: false,
      failure: 'unsafe-path',
    });
  });

  it.each(['/webhooks/orders', '/webhooks/v1.2/orders', '/webhooks/...', '/webhooks/.well-known', '/a?x=..'])(
    'accepts a path whose dots are not a segment of their own: %s',
    (path) => {
      expect(screen(request(shopifyHeaders(), path), OPEN_RULES, 'shop').ok).toBe(true);
    },
  );
});
