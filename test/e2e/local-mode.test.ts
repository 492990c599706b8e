import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { sign } from '../../core/signature';
import { sendWebhooks } from '../../local/sender';
import { DEV_SECRET, makeFlood, makeWebhook, type Webhook } from '../../local/webhooks';
import { type LocalChild, startLocalChild } from '../helpers/local-mode';
import { type Recorder, startRecorder, waitUntil } from '../helpers/recorder';

/** Lower-cased X-Shopify-* headers of a sent webhook. */
const shopifyHeadersOf = (w: Webhook): Record<string, string> =>
  Object.fromEntries(
    Object.entries(w.headers)
      .filter(([k]) => k.toLowerCase().startsWith('x-shopify-'))
      .map(([k, v]) => [k.toLowerCase(), v]),
  );

describe('local mode (npm start, end to end)', () => {
  let dir: string;
  let app: Recorder;
  let local: LocalChild;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-e2e-'));
    app = await startRecorder();
    // Short drainer runs: webhooks keep flowing across the restarts the schedule would do.
    local = await startLocalChild(
      { DOWNSTREAM_URL: app.url, SLUICE_RUN_SECONDS: '6' },
      join(dir, 'endpoints.json'),
    );
  });
  afterAll(async () => {
    await local?.stop('SIGKILL').catch(() => {});
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const post = (
    w: Pick<Webhook, 'path' | 'headers'>,
    body: string | Buffer,
    path = w.path,
    method = 'POST',
  ) =>
    fetch(`${local.endpoints.apiUrl}${path}`, {
      method,
      headers: w.headers,
      body: method === 'GET' ? null : body,
    });

  const queueEmpty = async (queueUrl: string) => {
    const a = await local.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      a.Attributes?.ApproximateNumberOfMessages === '0' &&
      a.Attributes?.ApproximateNumberOfMessagesNotVisible === '0'
    );
  };

  it("delivers every webhook once, each product's updates in order, with identical bytes, Shopify headers and path", async () => {
    // Each shop's 30 webhooks update 5 products: the default ordering key keeps each product's in order.
    const flood = makeFlood({
      count: 120,
      shops: 4,
      topic: 'products/update',
      secret: DEV_SECRET,
      path: '/webhooks/shopify?app=sluice',
      resources: 5,
    });

    const summary = await sendWebhooks(flood, { baseUrl: local.endpoints.apiUrl, concurrency: 4 });
    expect(summary.accepted).toBe(120);
    await waitUntil(() => app.requests.length >= 120, 60_000, '120 deliveries');
    await waitUntil(() => queueEmpty(local.endpoints.queueUrl), 10_000, 'an empty queue');

    const byId = new Map(flood.map((w) => [w.webhookId, w]));
    const delivered = app.requests.filter((r) => byId.has(r.headers['x-shopify-webhook-id'] ?? ''));
    expect(delivered).toHaveLength(120);
    expect(new Set(delivered.map((r) => r.headers['x-shopify-webhook-id'])).size).toBe(120);
    for (const r of delivered) {
      const sent = byId.get(r.headers['x-shopify-webhook-id']!)!;
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/webhooks/shopify?app=sluice');
      expect(r.body.equals(sent.body)).toBe(true);
      expect(r.headers).toMatchObject(shopifyHeadersOf(sent));
    }
    for (const key of new Set(flood.map((w) => `${w.shop}/${w.resource}`))) {
      const seqs = delivered
        .map((r) => byId.get(r.headers['x-shopify-webhook-id']!)!)
        .filter((w) => `${w.shop}/${w.resource}` === key)
        .map((w) => w.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(seqs).toHaveLength(6);
    }
  });

  describe('bad input at the local API', () => {
    const good = () =>
      makeWebhook({ secret: DEV_SECRET, shop: 'bad-input.myshopify.com', topic: 'orders/create', seq: 0 });

    it('answers 401 when a required header is missing', async () => {
      const w = good();
      const { 'X-Shopify-Topic': _topic, ...headers } = w.headers;

      const res = await post({ path: w.path, headers }, w.body);

      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: 'Unauthorized' });
    });

    it('answers 403 from the authorizer when the signature header is malformed', async () => {
      const w = good();

      const res = await post(
        { path: w.path, headers: { ...w.headers, 'X-Shopify-Hmac-Sha256': 'abc' } },
        w.body,
      );

      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ message: 'Forbidden' });
    });

    it('accepts a forged body on the direct route, never forwards it, and dead-letters it with reason signature', async () => {
      const w = good();
      const forged = Buffer.from(w.body.toString('utf8').replace('19.00', '0.01'), 'utf8');

      const res = await post(w, forged);

      expect(res.status).toBe(200);
      let reason: string | undefined;
      await waitUntil(
        async () => {
          const got = await local.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: local.endpoints.dlqUrl,
              MaxNumberOfMessages: 10,
              MessageAttributeNames: ['All'],
              VisibilityTimeout: 0,
            }),
          );
          const mine = got.Messages?.find((m) => m.MessageAttributes?.WebhookId?.StringValue === w.webhookId);
          reason = mine
            ? (JSON.parse(mine.MessageAttributes?.Failure?.StringValue ?? '{}') as { reason?: string }).reason
            : undefined;
          return reason !== undefined;
        },
        20_000,
        'the forged webhook in the DLQ',
      );
      expect(reason).toBe('signature');
      expect(app.attempts.some((r) => r.headers['x-shopify-webhook-id'] === w.webhookId)).toBe(false);
    });

    it('delivers a real webhook whose id a forgery sent just before it had borrowed', async () => {
      // Within SQS's 5-minute dedup window: the forgery, signed with a guessed key, must not claim the id.
      const w = makeWebhook({
        secret: DEV_SECRET,
        shop: 'bad-input.myshopify.com',
        topic: 'orders/create',
        seq: 1,
      });
      const forged = { ...w, headers: { ...w.headers, 'X-Shopify-Hmac-Sha256': sign('a-guess', w.body) } };

      expect((await post(forged, w.body)).status).toBe(200);
      expect((await post(w, w.body)).status).toBe(200);

      await waitUntil(
        async () => app.attempts.some((r) => r.headers['x-shopify-webhook-id'] === w.webhookId),
        20_000,
        'the real webhook delivered after a forgery that borrowed its id',
      );
      expect(app.attempts.filter((r) => r.headers['x-shopify-webhook-id'] === w.webhookId)).toHaveLength(1);
    });

    it('answers 401 to a forged body on the verified route', async () => {
      const w = good();

      const res = await post(w, Buffer.from('{"forged":true}'), `/verified${w.path}`);

      expect(res.status).toBe(401);
    });

    it('answers 405 to a method other than POST', async () => {
      const w = good();

      const res = await post(w, '', w.path, 'GET');

      expect(res.status).toBe(405);
    });

    it('answers 413 over 10 MB and 500 over the 1 MiB SQS limit on the direct route (documented)', async () => {
      const huge = Buffer.alloc(10 * 1024 * 1024 + 1, 0x61);
      const big = Buffer.from(`{"pad":"${'x'.repeat(1_100_000)}"}`);
      const w = good();

      const tooLarge = await post(
        { path: w.path, headers: { ...w.headers, 'X-Shopify-Hmac-Sha256': sign(DEV_SECRET, huge) } },
        huge,
      );
      const overSqs = await post(
        { path: w.path, headers: { ...w.headers, 'X-Shopify-Hmac-Sha256': sign(DEV_SECRET, big) } },
        big,
      );

      expect(tooLarge.status).toBe(413);
      expect(overSqs.status).toBe(500);
    });

    it('forwards a correctly signed non-JSON body byte-exact (the app decides)', async () => {
      const body = Buffer.from('foo=anything&x=%E2%9C%93\n', 'utf8');
      const w = good();
      const headers = {
        ...w.headers,
        'Content-Type': 'application/x-www-form-urlencoded',
        'X-Shopify-Hmac-Sha256': sign(DEV_SECRET, body),
      };

      const res = await post({ path: '/hooks/form', headers }, body);

      expect(res.status).toBe(200);
      await waitUntil(
        () => app.requests.some((r) => r.headers['x-shopify-webhook-id'] === w.webhookId),
        20_000,
        'the form body delivered',
      );
      const got = app.requests.find((r) => r.headers['x-shopify-webhook-id'] === w.webhookId)!;
      expect(got.body.equals(body)).toBe(true);
      expect(got.url).toBe('/hooks/form');
      expect(got.headers['content-type']).toBe('application/x-www-form-urlencoded');
    });
  });

  it('stops gracefully on SIGINT (Ctrl-C) and removes its endpoints file', async () => {
    await local.stop('SIGINT');

    expect(existsSync(join(dir, 'endpoints.json'))).toBe(false);
    expect(local.output()).toContain('Stopped.');
    expect(local.output()).not.toContain('sluice:');
  });
});
