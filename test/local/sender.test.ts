import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sendWebhooks } from '../../local/sender';
import { makeFlood } from '../../local/webhooks';
import { type Recorder, startRecorder } from '../helpers/recorder';

describe('sendWebhooks', () => {
  let app: Recorder;
  beforeAll(async () => {
    app = await startRecorder((r) => ({ status: r.url.includes('reject') ? 401 : 200, delayMs: 2 }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('keeps each shop’s webhooks in order while sending shops side by side', async () => {
    const flood = makeFlood({ count: 60, shops: 4, topic: 'products/update', secret: 's' });

    const summary = await sendWebhooks(flood, { baseUrl: app.url, concurrency: 8 });

    expect(summary).toMatchObject({ sent: 60, accepted: 60, rejected: {} });
    const seqOf = new Map(flood.map((w) => [w.webhookId, w]));
    for (const shop of new Set(flood.map((w) => w.shop))) {
      const seqs = app.requests
        .map((r) => seqOf.get(r.headers['x-shopify-webhook-id'] ?? ''))
        .filter((w) => w?.shop === shop)
        .map((w) => w?.seq);
      expect(seqs).toEqual(Array.from({ length: 15 }, (_, i) => i));
    }
  });

  it('counts answers by status', async () => {
    const flood = makeFlood({ count: 3, shops: 1, topic: 'products/update', secret: 's', path: '/reject' });

    const summary = await sendWebhooks(flood, { baseUrl: app.url });

    expect(summary).toMatchObject({ sent: 3, accepted: 0, rejected: { 401: 3 } });
  });

  it('stops at the first connection error and reports it', async () => {
    const flood = makeFlood({ count: 5, shops: 1, topic: 'products/update', secret: 's' });

    const summary = await sendWebhooks(flood, { baseUrl: 'http://127.0.0.1:1' });

    expect(summary.accepted).toBe(0);
    expect(summary.rejected[0]).toBe(1);
    expect(summary.error).toBeDefined();
  });
});

describe('npm run send (bin/send.ts)', () => {
  const send = (...args: string[]) =>
    promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '../../bin/send.ts'), ...args],
      {
        cwd: join(__dirname, '../..'),
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );

  it('refuses a topic the edge would refuse, before sending anything', async () => {
    const run = await send('--topic', 'bad topic', '--count', '1', '--url', 'http://127.0.0.1:1/webhooks');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('"bad topic" is not a topic like products/update');
    // Not the connection error a send to port 1 would give.
    expect(run.stderr).not.toMatch(/cannot reach/);
  });
});
