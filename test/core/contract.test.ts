import {
  ATTR,
  type AttributeValue,
  ContractError,
  decode,
  dedupIdOf,
  encode,
  envelopeOf,
  groupIdOf,
  isSqsSafe,
  messageBytes,
  resourceOf,
  targetOf,
} from '../../core/contract';
import { normalizeHeaders } from '../../core/headers';
import { authorizerContext, integrationParameters, renderIntegration } from '../../core/mapping';
import { sign } from '../../core/signature';

const BODY =
  '{"id":788032119674292922,"title":"Café – ünïcode ✓ 🚲","handle":"x","admin_graphql_api_id":"gid:\\/\\/shopify\\/Product\\/788032119674292922","note":"line\\u2028sep"}';

const headers = normalizeHeaders({
  'X-Shopify-Hmac-Sha256': 'XN7opACoz7Ctu5WH5onaH2nmBos0StWk8P/zoBJr5PU=',
  'X-Shopify-Topic': 'products/update',
  'x-shopify-shop-domain': 'demo.myshopify.com',
  'X-SHOPIFY-API-VERSION': '2026-01',
  'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
  'X-Shopify-Triggered-At': '2023-03-29T18:00:27.877041743Z',
  'X-Shopify-Event-Id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
  'Content-Type': 'application/json',
  Authorization: 'Bearer never-forwarded',
});

const toSqs = (attrs: Readonly<Record<string, string>>): Record<string, AttributeValue> =>
  Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, { StringValue: v }]));

describe('contract', () => {
  it('keeps the exact body bytes and every Shopify header through encode and decode', () => {
    const env = envelopeOf({
      headers,
      path: '/webhooks/products',
      query: 'a=1',
      receivedAt: 1_700_000_000_123,
    });
    const msg = encode(env, BODY, 'shop');
    const back = decode(msg.body, toSqs(msg.attributes));
    expect(Buffer.from(back.body, 'utf8').equals(Buffer.from(BODY, 'utf8'))).toBe(true);
    expect(back.envelope).toEqual(env);
    expect(back.envelope.headers['x-shopify-event-id']).toBe('98880550-7158-44d4-b7cd-2c97c8a091b5');
    expect(back.envelope.headers.authorization).toBeUndefined();
    expect(back.envelope.target).toBe('/webhooks/products?a=1');
    expect(msg.dedupId).toBe(dedupIdOf(env));
  });

  it('dedups a webhook by its id and signature, so a forgery cannot claim a real webhook id', () => {
    const env = envelopeOf({ headers, path: '/webhooks', receivedAt: 1 });
    const again = envelopeOf({ headers, path: '/webhooks', receivedAt: 2 });
    const forged = envelopeOf({
      headers: { ...headers, 'x-shopify-hmac-sha256': sign('guess', 'x') },
      path: '/webhooks',
      receivedAt: 1,
    });
    expect(forged.webhookId).toBe(env.webhookId);
    expect(forged.hmac).not.toBe(env.hmac);

    // Shopify delivering the same webhook again: same id, same signature.
    expect(encode(again, BODY, 'shop').dedupId).toBe(encode(env, BODY, 'shop').dedupId);
    expect(encode(forged, 'x', 'shop').dedupId).not.toBe(encode(env, BODY, 'shop').dedupId);
    // SQS takes up to 128 characters of [A-Za-z0-9] and punctuation.
    expect(encode(env, BODY, 'shop').dedupId).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps the exact bytes through the direct route mapping as local mode renders it', () => {
    const env = envelopeOf({ headers, path: '/webhooks', receivedAt: 1 });
    const msg = encode(env, BODY, 'shop-topic');
    const sent = renderIntegration(integrationParameters('http://q'), {
      body: BODY,
      authorizer: authorizerContext(msg),
    });
    expect(sent.MessageBody).toBe(BODY);
    expect(sent.MessageGroupId).toBe('demo.myshopify.com:products/update');
    const back = decode(sent.MessageBody, sent.MessageAttributes);
    expect(back.envelope).toEqual(env);
  });

  it('reads the shopify-* spellings without X- as the same headers', () => {
    const events = normalizeHeaders({
      'shopify-hmac-sha256': 'h',
      'shopify-topic': 't/u',
      'shopify-shop-domain': 's.myshopify.com',
      'shopify-api-version': 'unstable',
      'shopify-webhook-id': 'w',
    });
    const env = envelopeOf({ headers: events, path: '/', receivedAt: 0 });
    expect([env.hmac, env.topic, env.shop, env.webhookId]).toEqual(['h', 't/u', 's.myshopify.com', 'w']);
  });

  it('names the missing headers when a required one is absent', () => {
    expect(() =>
      envelopeOf({ headers: normalizeHeaders({ 'x-shopify-topic': 'a/b' }), path: '/', receivedAt: 0 }),
    ).toThrow(/hmac-sha256|hmac/);
  });

  const product = { 'x-shopify-product-id': '788032119674292922' };
  it.each([
    ['resource', {}, 'demo.myshopify.com'],
    ['resource', product, 'demo.myshopify.com/product:788032119674292922'],
    ['shop', product, 'demo.myshopify.com'],
    ['shop-topic', product, 'demo.myshopify.com:products/update'],
    ['global', product, 'all'],
    ['none', product, 'w-1'],
  ] as const)('groups by %s (resource headers %j)', (ordering, headers, expected) => {
    expect(
      groupIdOf(ordering, {
        shop: 'demo.myshopify.com',
        topic: 'products/update',
        webhookId: 'w-1',
        headers,
      }),
    ).toBe(expected);
  });

  it('finds the resource in either spelling, never in the ids of the delivery itself, and the same one every time', () => {
    expect(resourceOf({ 'shopify-order-id': '450789469' })).toBe('order:450789469');
    expect(resourceOf({ 'X-Shopify-Inventory-Item-Id': ' 808950810 ' })).toBe('inventory-item:808950810');
    // The webhook's and the event's ids are unique per delivery (grouping by them orders nothing).
    expect(
      resourceOf({ 'x-shopify-webhook-id': 'w', 'x-shopify-event-id': 'e', 'x-shopify-shop-id': '1' }),
    ).toBeUndefined();
    // An id SQS could not carry, or an empty one, names nothing.
    expect(resourceOf({ 'x-shopify-product-id': '' })).toBeUndefined();
    expect(resourceOf({ 'x-shopify-product-id': 'a b' })).toBeUndefined();
    // Two resources: whichever order the headers come in, the same one is taken.
    const both = { 'x-shopify-order-id': '2', 'x-shopify-customer-id': '9' };
    const reversed = { 'x-shopify-customer-id': '9', 'x-shopify-order-id': '2' };
    expect(resourceOf(both)).toBe('customer:9');
    expect(resourceOf(reversed)).toBe('customer:9');
    // …unless one is of the topic's own kind: an order's webhooks follow the order, whatever else they name.
    expect(resourceOf(both, 'orders/updated')).toBe('order:2');
    expect(
      resourceOf({ 'x-shopify-inventory-item-id': '5', 'x-shopify-a-id': '1' }, 'inventory_items/update'),
    ).toBe('inventory-item:5');
    // A repeated header (joined with commas on the way in) with one id is that id; two ids name nothing.
    expect(resourceOf({ 'x-shopify-product-id': '7, 7' })).toBe('product:7');
    expect(resourceOf({ 'x-shopify-product-id': '7,8' })).toBeUndefined();
  });

  it("reads an Events delivery's global id as the same resource as the classic header", () => {
    const classic = resourceOf({ 'x-shopify-product-id': '123' }, 'products/update');
    expect(resourceOf({ 'shopify-resource-id': 'gid://shopify/Product/123' }, 'products/update')).toBe(
      classic,
    );
    expect(resourceOf({ 'shopify-resource-id': 'gid://shopify/InventoryItem/9' })).toBe('inventory-item:9');
    // Not a global id: `resource` is no kind of its own.
    expect(resourceOf({ 'shopify-resource-id': '123' })).toBeUndefined();
  });

  it("keeps a resource group within SQS's 128 characters for a long shop domain, the same for the same resource", () => {
    const shop = `${'a'.repeat(100)}.myshopify.com`;
    const env = (id: string, webhookId: string) => ({
      shop,
      topic: 'products/update',
      webhookId,
      headers: { 'x-shopify-product-id': id },
    });
    const one = groupIdOf('resource', env('1234567890123456789', 'w-1'));
    expect(one.length).toBeLessThanOrEqual(128);
    expect(groupIdOf('resource', env('1234567890123456789', 'w-2'))).toBe(one);
    expect(groupIdOf('resource', env('1234567890123456780', 'w-3'))).not.toBe(one);
  });

  it.each([
    ['/verified/webhooks', undefined, '/verified', '/webhooks'],
    ['/verified', 'x=1', '/verified', '/?x=1'],
    ['/verifiedx/a', undefined, '/verified', '/verifiedx/a'],
    ['/a/b', '', undefined, '/a/b'],
  ])('turns %s?%s into the app path', (path, query, prefix, expected) => {
    expect(targetOf(path, query, prefix)).toBe(expected);
  });

  it('rejects a message whose attribute is missing or malformed with a ContractError', () => {
    const env = envelopeOf({ headers, path: '/', receivedAt: 5 });
    const msg = encode(env, BODY, 'shop');
    const noTopic = toSqs({ ...msg.attributes });
    delete noTopic[ATTR.topic];
    expect(() => decode(BODY, noTopic)).toThrow(ContractError);
    expect(() => decode(BODY, toSqs({ ...msg.attributes, [ATTR.headers]: '[1]' }))).toThrow(/not an object/);
    expect(() => decode(BODY, toSqs({ ...msg.attributes, [ATTR.receivedAt]: 'soon' }))).toThrow(
      /not a number/,
    );
  });

  it('counts message size in UTF-8 bytes as SQS does', () => {
    expect(messageBytes('é', { A: 'b' })).toBe(2 + 1 + 6 + 1);
  });

  it.each([
    ['{"a":"b"}', true],
    ['emoji 🚲 and \u2028', true],
    ['nul \u0000', false],
    ['lone \uD800 surrogate', false],
  ])('judges %j SQS-safe: %s', (body, expected) => {
    expect(isSqsSafe(body)).toBe(expected);
  });
});
