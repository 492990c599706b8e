import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendWebhooks } from '../../local/sender';
import { DEV_SECRET, makeFlood } from '../../local/webhooks';
import { type LocalChild, startLocalChild } from '../helpers/local-mode';
import { type Recorder, startRecorder, waitUntil } from '../helpers/recorder';

/** A port nothing listens on (free a moment ago). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const address = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('local mode when the app is down', () => {
  let dir: string;
  let local: LocalChild | undefined;
  let app: Recorder | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-down-'));
  });
  afterAll(async () => {
    await local?.stop('SIGKILL').catch(() => {});
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps webhooks waiting, says "downstream unreachable", and delivers them all once the app is up', async () => {
    const port = await closedPort();
    local = await startLocalChild(
      { DOWNSTREAM_URL: `http://127.0.0.1:${port}` },
      join(dir, 'endpoints.json'),
    );
    const flood = makeFlood({ count: 6, shops: 2, topic: 'orders/create', secret: DEV_SECRET });

    const sent = await sendWebhooks(flood, { baseUrl: local.endpoints.apiUrl });
    expect(sent.accepted).toBe(6);
    await waitUntil(
      () => local!.output().includes('downstream unreachable'),
      20_000,
      'the unreachable status',
    );
    app = await startRecorder(undefined, port);
    await waitUntil(() => app!.requests.length >= 6, 45_000, 'all 6 delivered once the app is up');

    expect(new Set(app.requests.map((r) => r.headers['x-shopify-webhook-id'])).size).toBe(6);
    expect(local.output()).not.toMatch(/DLQ [1-9]/);
  });
});
