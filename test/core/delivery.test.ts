// The delivery request: URL join, the exact forwarded headers, the exact body bytes.
import { decode, encode, envelopeOf } from '../../core/contract';
import { buildDelivery, joinUrl } from '../../core/delivery';
import { normalizeHeaders } from '../../core/headers';
import { SLUICE_HEADERS } from '../../core/resources';
import { webhook } from '../helpers/queue';
import { BODY, eventsSpelling, RECEIVED_AT, shopifyHeaders } from '../helpers/webhooks';

describe('joinUrl', () => {
  it.each([
    ['https://app.example.com', '/webhooks', 'https://app.example.com/webhooks'],
    ['https://app.example.com/', '/webhooks', 'https://app.example.com/webhooks'],
    [
      'https://app.example.com/base',
      '/webhooks/orders?shop=x&a=1',
      'https://app.example.com/base/webhooks/orders?shop=x&a=1',
    ],
    ['http://127.0.0.1:3001', '/', 'http://127.0.0.1:3001/'],
    ['https://app.example.com', '', 'https://app.example.com/'],
    ['https://app.example.com', 'webhooks', 'https://app.example.com/webhooks'],
    ['https://app.example.com', '?only=query', 'https://app.example.com?only=query'],
    ['https://app.example.com', '/a%20b/%E2%9C%93', 'https://app.example.com/a%20b/%E2%9C%93'],
  ])('joins %s and %s', (base, target, expected) => {
    expect(joinUrl(base, target)).toBe(expected);
  });
});

describe('buildDelivery', () => {
  const { envelope, body } = webhook({
    webhookId: 'w-1',
    target: '/webhooks/products?app=1',
    receivedAt: Date.parse('2026-11-25T13:00:00.123Z'),
    body: '{"id":788032119674292922,"gid":"gid:\\/\\/shopify\\/Product\\/1","t":"Café ✓ 🚲"}',
  });

  it('posts to the base URL plus the original path and query', () => {
    expect(buildDelivery('https://app.example.com', envelope, body, 1).url).toBe(
      'https://app.example.com/webhooks/products?app=1',
    );
  });

  it('forwards the envelope headers exactly and adds only the Sluice headers', () => {
    const req = buildDelivery('https://app.example.com', envelope, body, 3);
    expect(req.headers).toEqual({
      ...envelope.headers,
      [SLUICE_HEADERS.attempt]: '3',
      [SLUICE_HEADERS.receivedAt]: '2026-11-25T13:00:00.123Z',
    });
  });

  it('keeps every Shopify header value through the queue contract', () => {
    const out = encode(envelope, body, 'shop');
    const attrs = Object.fromEntries(Object.entries(out.attributes).map(([k, v]) => [k, { StringValue: v }]));
    const back = decode(out.body, attrs);
    const req = buildDelivery('https://app.example.com', back.envelope, back.body, 1);
    for (const [name, value] of Object.entries(envelope.headers)) expect(req.headers[name]).toBe(value);
  });

  it('drops hop-by-hop and framing headers', () => {
    const withHop = {
      ...envelope,
      headers: {
        ...envelope.headers,
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'content-length': '12',
        host: 'edge.example.com',
        upgrade: 'h2c',
      },
    };
    const req = buildDelivery('https://app.example.com', withHop, body, 1);
    for (const name of [
      'connection',
      'keep-alive',
      'transfer-encoding',
      'content-length',
      'host',
      'upgrade',
    ]) {
      expect(req.headers).not.toHaveProperty(name);
    }
    expect(req.headers['x-shopify-hmac-sha256']).toBe(envelope.hmac);
  });

  it('forwards the Events spelling of the Shopify headers (shopify-*) as it came, through the queue', () => {
    const sent = eventsSpelling(shopifyHeaders());
    const env = envelopeOf({ headers: normalizeHeaders(sent), path: '/webhooks', receivedAt: RECEIVED_AT });
    const msg = encode(env, BODY, 'shop');
    const { envelope: back } = decode(
      msg.body,
      Object.fromEntries(
        Object.entries(msg.attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
      ),
    );
    const req = buildDelivery('https://app.example.com', back, BODY, 1);

    const shopify = Object.keys(sent).filter((k) => k.toLowerCase().startsWith('shopify-'));
    expect(shopify.length).toBeGreaterThanOrEqual(5);
    for (const name of shopify) expect(req.headers[name.toLowerCase()]).toBe(sent[name]);
  });

  it('passes the body through as the same string, byte for byte', () => {
    const req = buildDelivery('https://app.example.com', envelope, body, 1);
    expect(req.body).toBe(body);
    expect(Buffer.from(req.body as string, 'utf8').equals(Buffer.from(body, 'utf8'))).toBe(true);
  });

  it('passes claim-checked bytes through untouched', () => {
    const bytes = new Uint8Array([0x7b, 0xff, 0x00, 0xc3, 0xa9, 0x7d]);
    expect(buildDelivery('https://app.example.com', envelope, bytes, 1).body).toBe(bytes);
  });
});
