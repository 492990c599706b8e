import { type DemoApp, startDemoApp } from '../../local/demo-app';
import { DEV_SECRET, makeWebhook } from '../../local/webhooks';

describe('demo app', () => {
  let app: DemoApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  const deliver = (url: string, seq: number, secret = DEV_SECRET) => {
    const w = makeWebhook({ secret, shop: 'a.myshopify.com', topic: 'products/update', seq });
    return fetch(`${url}${w.path}`, { method: 'POST', headers: w.headers, body: w.body });
  };

  it('accepts a correctly signed webhook', async () => {
    app = await startDemoApp({ secrets: [DEV_SECRET], workMs: 0 });

    const res = await deliver(app.url, 0);

    expect(res.status).toBe(200);
    expect(app.stats().accepted).toBe(1);
  });

  it('answers 401 to a webhook signed with another secret', async () => {
    app = await startDemoApp({ secrets: [DEV_SECRET], workMs: 0 });

    const res = await deliver(app.url, 0, 'someone-else');

    expect(res.status).toBe(401);
    expect(app.stats().unauthorized).toBe(1);
  });

  it('answers 429 with Retry-After above its rate', async () => {
    app = await startDemoApp({ secrets: [DEV_SECRET], ratePerSecond: 1, workMs: 0, retryAfterSeconds: 2 });

    const first = await deliver(app.url, 0);
    const second = await deliver(app.url, 1);

    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('2');
  });

  it('answers 503 above its concurrency', async () => {
    app = await startDemoApp({ secrets: [DEV_SECRET], ratePerSecond: 1000, concurrency: 1, workMs: 300 });

    const statuses = (await Promise.all([deliver(app.url, 0), deliver(app.url, 1)])).map((r) => r.status);

    expect(statuses.sort()).toEqual([200, 503]);
  });
});
