// Local mode in-process: what it does with settings that only make sense in AWS, and with the ones that apply.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../core/config';
import * as pacer from '../../core/pacer';
import { startLocalMode, tryCommand } from '../../local/mode';
import { sendWebhooks } from '../../local/sender';
import { makeFlood, makeWebhook } from '../../local/webhooks';
import { waitUntil } from '../helpers/recorder';
import { startScriptedApp } from '../helpers/scripted-app';

// A pass-through: the real pacer handles every signal, and the test sees which signals the drainer sent it.
jest.mock('../../core/pacer', () => {
  const actual = jest.requireActual<typeof pacer>('../../core/pacer');
  return { ...actual, onSignal: jest.fn(actual.onSignal) };
});
const onSignal = jest.mocked(pacer.onSignal);

describe('startLocalMode', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-mode-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a Try line that reaches this API and signs with this secret, as run from another terminal', () => {
    expect(tryCommand('.local/sluice.json', true)).toBe('npm run send -- --count 2000');
    expect(tryCommand('/tmp/a.json', false)).toBe(
      'SLUICE_LOCAL_FILE=/tmp/a.json SHOPIFY_CLIENT_SECRET=<the same secret> npm run send -- --count 2000',
    );
  });

  it('says that idleExitSeconds is not applied locally rather than ignoring it silently', async () => {
    let printed = '';
    const local = await startLocalMode({
      config: parseConfig({ downstreamUrl: 'http://127.0.0.1:9', idleExitSeconds: 20 }),
      secrets: ['local-test-secret'],
      port: 0,
      endpointsFile: join(dir, 'endpoints.json'),
      out: { write: (text: string) => (printed += text) },
    });
    await local.stop();

    expect(printed).toContain('Idle exit     not applied locally (idleExitSeconds 20)');
  });

  it("applies serviceTimeMetric locally: the app's Server-Timing reaches the pacer", async () => {
    const secret = 'local-test-secret';
    const app = await startScriptedApp(() => ({
      status: 200,
      headers: { 'Server-Timing': 'db;dur=3, app;dur=12.5' },
    }));
    let printed = '';
    const local = await startLocalMode({
      config: parseConfig({ downstreamUrl: app.url, serviceTimeMetric: 'app' }),
      secrets: [secret],
      port: 0,
      endpointsFile: join(dir, 'endpoints-st.json'),
      out: { write: (text: string) => (printed += text) },
    });
    const accepted = () =>
      onSignal.mock.calls.map(([, signal]) => signal).filter((s) => s.kind === 'accepted');
    try {
      onSignal.mockClear();
      const w = makeWebhook({ topic: 'products/update', seq: 1, shop: 'st.myshopify.com', secret });
      const answer = await fetch(`${local.apiUrl}${w.path}`, {
        method: 'POST',
        headers: w.headers,
        body: w.body,
      });
      expect(answer.status).toBe(200);

      await waitUntil(() => accepted().length >= 1, 30_000, 'the delivery to be accepted');
    } finally {
      await local.stop();
      await app.close();
    }

    expect(accepted()[0]).toMatchObject({ kind: 'accepted', serviceMs: 12.5 });
    expect(printed).toContain("Service time  read from your app's Server-Timing metric app");
  });
  // The flood Sluice is for: one merchant's bulk edit, one shop, many products. Under the default ordering key
  // each product is its own group, so the app gets several at once; under `shop` it gets one at a time.
  it.each([
    ['resource (the default)', 'several', {}],
    ['shop', 'one', { orderingKey: 'shop' }],
  ] as const)(
    "delivers one shop's bulk edit under %s %s at a time, each product's updates in order",
    async (_, expected, extra) => {
      const secret = 'local-test-secret';
      const app = await startScriptedApp(() => ({ status: 200, delayMs: 150 }));
      const local = await startLocalMode({
        config: parseConfig({ downstreamUrl: app.url, ...extra }),
        secrets: [secret],
        port: 0,
        endpointsFile: join(dir, `endpoints-bulk-${expected}.json`),
        out: { write: () => {} },
      });
      try {
        // 48 updates of 8 products, in the order a bulk edit sends them.
        const flood = makeFlood({ count: 48, shops: 1, topic: 'products/update', secret, resources: 8 });
        const sent = await sendWebhooks(flood, { baseUrl: local.apiUrl, concurrency: 1 });
        expect(sent.accepted).toBe(48);
        await waitUntil(() => app.committed().length >= 48, 60_000, '48 deliveries');
      } finally {
        await local.stop();
        await app.close();
      }
      const exchanges = app.exchanges;
      const most = Math.max(
        ...exchanges.map(
          (e) => exchanges.filter((o) => o.at <= e.at && (o.answeredAt ?? Infinity) > e.at).length,
        ),
      );
      if (expected === 'several') expect(most).toBeGreaterThan(1);
      else expect(most).toBe(1);
      const product = (e: { headers: Readonly<Record<string, string>> }) => e.headers['x-shopify-product-id'];
      for (const id of new Set(exchanges.map(product))) {
        const seqs = app
          .committed()
          .filter((e) => product(e) === id)
          .map((e) => Number(/"sequence":(\d+)/.exec(e.body.toString('utf8'))?.[1]));
        expect(seqs).toHaveLength(6);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      }
    },
  );
  it('says once why deliveries fail when the downstream URL is https and the app speaks http', async () => {
    const secret = 'local-test-secret';
    const app = await startScriptedApp();
    let printed = '';
    const local = await startLocalMode({
      config: parseConfig({ downstreamUrl: app.url.replace('http:', 'https:') }),
      secrets: [secret],
      port: 0,
      endpointsFile: join(dir, 'endpoints-tls.json'),
      out: { write: (text: string) => (printed += text) },
    });
    try {
      const flood = makeFlood({ count: 3, shops: 3, topic: 'products/update', secret });
      expect((await sendWebhooks(flood, { baseUrl: local.apiUrl, concurrency: 1 })).accepted).toBe(3);
      await waitUntil(() => /\[downstream\] \S*SSL/.test(printed), 30_000, 'the TLS error to be printed');
    } finally {
      await local.stop();
      await app.close();
    }
    expect(printed).toContain('(is DOWNSTREAM_URL http or https?)');
    // Once per code, however many deliveries failed with it.
    expect(printed.match(/\[downstream\]/g)).toHaveLength(1);
    expect(app.exchanges).toHaveLength(0);
  });
});
