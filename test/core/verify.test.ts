import { CLAIM_CHECK_BODY, MAX_MESSAGE_BYTES } from '../../core/contract';
import { normalizeHeaders } from '../../core/headers';
import { OPEN_RULES } from '../../core/screening';
import { claimCheckKey, inlineBody, planVerified, type VerifyInput } from '../../core/verify';
import { BODY, RECEIVED_AT, SECRET, shopifyHeaders } from '../helpers/webhooks';

const input = (body: string | Uint8Array = BODY, overrides: Partial<VerifyInput> = {}): VerifyInput => {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    method: 'POST',
    headers: normalizeHeaders(shopifyHeaders(bytes)),
    path: '/verified/webhooks',
    receivedAt: RECEIVED_AT,
    body: bytes,
    secrets: [SECRET],
    rules: OPEN_RULES,
    ordering: 'shop',
    stripPrefix: '/verified',
    ...overrides,
  };
};

describe('planVerified', () => {
  it('enqueues a signed webhook inline with the prefix stripped', () => {
    const plan = planVerified(input());
    expect(plan).toMatchObject({
      kind: 'enqueue',
      message: { body: BODY },
      envelope: { target: '/webhooks' },
    });
    expect(plan.kind === 'enqueue' && plan.claimCheck).toBeUndefined();
  });

  it('enqueues a signed Events delivery: shopify-* headers, and the resource name as its topic', () => {
    const signature = shopifyHeaders(BODY)['x-shopify-hmac-sha256']!;
    const headers = normalizeHeaders({
      'content-type': 'application/json',
      'shopify-hmac-sha256': signature,
      'shopify-topic': 'Product',
      'shopify-action': 'update',
      'shopify-shop-domain': 'my-store.myshopify.com',
      'shopify-api-version': 'unstable',
      'shopify-webhook-id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      'shopify-triggered-at': '2026-11-25T13:00:00Z',
    });

    const plan = planVerified(input(BODY, { headers, path: '/verified/events' }));

    expect(plan).toMatchObject({ kind: 'enqueue', envelope: { topic: 'Product', target: '/events' } });
  });

  it.each<[string, Partial<VerifyInput>, number, string]>([
    ['a GET', { method: 'GET' }, 405, 'method-not-allowed'],
    ['no secret configured', { secrets: [] }, 503, 'secret-unset'],
    ['a wrong secret', { secrets: ['other'] }, 401, 'signature'],
    [
      'no signature header',
      { headers: normalizeHeaders(shopifyHeaders(BODY, { 'x-shopify-hmac-sha256': undefined })) },
      401,
      'signature',
    ],
    [
      'a shop off the allow-list',
      { rules: { allowedShops: ['x.myshopify.com'], allowedTopics: [] } },
      403,
      'shop-not-allowed',
    ],
    [
      'a topic off the allow-list',
      { rules: { allowedShops: [], allowedTopics: ['orders/paid'] } },
      403,
      'topic-not-allowed',
    ],
    [
      'a bad API version',
      { headers: normalizeHeaders(shopifyHeaders(BODY, { 'x-shopify-api-version': 'v1' })) },
      400,
      'malformed-api-version',
    ],
  ])('rejects %s', (_, overrides, status, error) => {
    expect(planVerified(input(BODY, overrides))).toMatchObject({ kind: 'reject', status, error });
  });

  it('answers 401 before anything else is checked when the signature is wrong', () => {
    const headers = normalizeHeaders(
      shopifyHeaders(BODY, { 'x-shopify-shop-domain': 'evil.example.com' }, 'forger'),
    );
    expect(planVerified(input(BODY, { headers }))).toMatchObject({ status: 401 });
  });

  it('claim-checks a body whose message would exceed the SQS limit by one byte', () => {
    const fits = (n: number) => {
      const plan = planVerified(input('x'.repeat(n)));
      return plan.kind === 'enqueue' && !plan.claimCheck;
    };
    // Find the largest inline body by bisection (≤ 21 steps), then check its neighbour goes to S3.
    let lo = 1;
    let hi = MAX_MESSAGE_BYTES;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    expect(fits(lo)).toBe(true);
    const over = planVerified(input('x'.repeat(lo + 1)));
    expect(over).toMatchObject({ kind: 'enqueue', message: { body: CLAIM_CHECK_BODY } });
    expect(over.kind === 'enqueue' && over.message.attributes.ClaimCheck).toBe(
      claimCheckKey({ webhookId: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043', receivedAt: RECEIVED_AT }),
    );
  });
});

describe('inlineBody', () => {
  it.each<[string, Uint8Array, string | undefined]>([
    ['JSON', Buffer.from(BODY), BODY],
    ['a leading BOM, kept', Buffer.from('\uFEFF{}', 'utf8'), '\uFEFF{}'],
    ['non-ASCII and U+2028', Buffer.from('{"a":"é\u2028"}', 'utf8'), '{"a":"é\u2028"}'],
    ['invalid UTF-8', Buffer.from([0xc3, 0x28]), undefined],
    ['a NUL', Buffer.from('{"a":"\u0000"}', 'utf8'), undefined],
    ['nothing', Buffer.alloc(0), undefined],
  ])('handles %s', (_, bytes, expected) => {
    expect(inlineBody(bytes)).toBe(expected);
  });
});

describe('claimCheckKey', () => {
  it('puts the body under bodies/<day>/<webhook id>-<receive time>', () => {
    expect(claimCheckKey({ webhookId: 'abc', receivedAt: RECEIVED_AT })).toBe(
      `bodies/2025-11-24/abc-${RECEIVED_AT}`,
    );
  });
});
