import { verify } from '../../core/signature';
import { makeFlood, makeWebhook, shopDomain } from '../../local/webhooks';

describe('local webhooks', () => {
  it('signs the exact body bytes with the secret', () => {
    const w = makeWebhook({ secret: 's3cret', shop: 'a.myshopify.com', topic: 'products/update', seq: 3 });

    expect(verify(w.body, w.headers['X-Shopify-Hmac-Sha256']!, ['s3cret'])).toBe(true);
  });

  it('writes ids beyond 2^53 as digits, escaped slashes in gids and non-ASCII text', () => {
    const text = makeWebhook({
      secret: 's',
      shop: 'a.myshopify.com',
      topic: 'products/update',
      seq: 0,
    }).body.toString('utf8');

    expect(text).toContain('"id":788032119674292922,');
    expect(text).toContain('"admin_graphql_api_id":"gid:\\/\\/shopify\\/Product\\/788032119674292922"');
    expect(Buffer.byteLength(text, 'utf8')).toBeGreaterThan(text.length);
    expect(JSON.stringify(JSON.parse(text))).not.toBe(text);
  });

  it('carries every classic Shopify header with a unique webhook id', () => {
    const flood = makeFlood({ count: 6, shops: 2, topic: 'orders/create', secret: 's' });
    const ids = new Set(flood.map((w) => w.headers['X-Shopify-Webhook-Id']));

    expect(ids.size).toBe(6);
    expect(Object.keys(flood[0]!.headers)).toEqual(
      expect.arrayContaining([
        'X-Shopify-Topic',
        'X-Shopify-Hmac-Sha256',
        'X-Shopify-Shop-Domain',
        'X-Shopify-API-Version',
        'X-Shopify-Webhook-Id',
        'X-Shopify-Triggered-At',
        'X-Shopify-Event-Id',
      ]),
    );
    expect(flood[0]!.headers['X-Shopify-Triggered-At']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  it('spreads a flood over shops round-robin with per-shop sequence numbers', () => {
    const flood = makeFlood({ count: 5, shops: 2, topic: 'products/update', secret: 's' });

    expect(flood.map((w) => [w.shop, w.seq])).toEqual([
      [shopDomain(0), 0],
      [shopDomain(1), 0],
      [shopDomain(0), 1],
      [shopDomain(1), 1],
      [shopDomain(0), 2],
    ]);
  });
});
