import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendWebhooks } from '../../local/sender';
import { DEV_SECRET, makeFlood } from '../../local/webhooks';
import { alive, type LocalChild, startLocalChild } from '../helpers/local-mode';
import { type Recorder, startRecorder, waitUntil } from '../helpers/recorder';

describe('local mode with on-disk state (Ctrl-C during a flood, then npm start again)', () => {
  let dir: string;
  let app: Recorder;
  const children: LocalChild[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-restart-'));
    // A slow app: a backlog builds up, so the Ctrl-C lands while webhooks are queued and in flight.
    app = await startRecorder(() => ({ status: 200, delayMs: 15 }));
  });
  afterAll(async () => {
    for (const c of children) await c.stop('SIGKILL').catch(() => {});
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing and keeps every shop in order across a graceful stop and restart', async () => {
    const env = {
      DOWNSTREAM_URL: app.url,
      SLUICE_STATE_DIR: join(dir, 'state'),
      RATE_CEILING: '60',
      ORDERING_KEY: 'shop',
    };
    const endpoints = join(dir, 'endpoints.json');
    const flood = makeFlood({ count: 300, shops: 3, topic: 'products/update', secret: DEV_SECRET });

    const first = await startLocalChild(env, endpoints);
    children.push(first);
    const sent = await sendWebhooks(flood, { baseUrl: first.endpoints.apiUrl, concurrency: 3 });
    expect(sent.accepted).toBe(300);
    await waitUntil(() => app.requests.length >= 40, 30_000, '40 deliveries before Ctrl-C');
    await first.stop('SIGINT');
    const deliveredBefore = app.requests.length;

    expect(first.output()).toMatch(/Saved \d+ queued webhook\(s\)/);
    expect(existsSync(join(dir, 'state', 'queues.json'))).toBe(true);
    expect(deliveredBefore).toBeLessThan(300);

    const second = await startLocalChild(env, endpoints);
    children.push(second);
    expect(second.output()).toMatch(/Restored \d+ queued webhook\(s\)/);
    await waitUntil(
      () => new Set(app.requests.map((r) => r.headers['x-shopify-webhook-id'])).size >= 300,
      60_000,
      'all 300 delivered',
    );
    await second.stop('SIGINT');

    const ids = app.requests.map((r) => r.headers['x-shopify-webhook-id']);
    expect(new Set(ids).size).toBe(300);
    expect(ids).toHaveLength(300);
    const byId = new Map(flood.map((w) => [w.webhookId, w]));
    for (const shop of new Set(flood.map((w) => w.shop))) {
      const seqs = app.requests
        .map((r) => byId.get(r.headers['x-shopify-webhook-id']!)!)
        .filter((w) => w.shop === shop)
        .map((w) => w.seq);
      expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i));
    }
  });
});

describe('local mode with on-disk state when its terminal closes (SIGHUP)', () => {
  let dir: string;
  let app: Recorder;
  const children: LocalChild[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-hup-'));
    app = await startRecorder(() => ({ status: 200, delayMs: 15 }));
  });
  afterAll(async () => {
    for (const c of children) await c.stop('SIGKILL').catch(() => {});
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('saves the queue as Ctrl-C does, and delivers all of it after a restart', async () => {
    const env = { DOWNSTREAM_URL: app.url, SLUICE_STATE_DIR: join(dir, 'state'), RATE_CEILING: '2' };
    const endpoints = join(dir, 'endpoints.json');
    const flood = makeFlood({ count: 30, shops: 3, topic: 'products/update', secret: DEV_SECRET });

    const first = await startLocalChild(env, endpoints);
    children.push(first);
    expect((await sendWebhooks(flood, { baseUrl: first.endpoints.apiUrl, concurrency: 3 })).accepted).toBe(
      30,
    );
    await first.stop('SIGHUP');
    expect(first.output()).toMatch(/Saved \d+ queued webhook\(s\)/);
    expect(existsSync(endpoints)).toBe(false);

    const second = await startLocalChild(env, endpoints);
    children.push(second);
    await waitUntil(
      () => new Set(app.requests.map((r) => r.headers['x-shopify-webhook-id'])).size >= 30,
      60_000,
      'all 30 delivered after the restart',
    );
    await second.stop('SIGINT');
  });
});

describe('local mode stopped through npm alone (a process manager, an IDE)', () => {
  let dir: string;
  let child: LocalChild | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-npm-term-'));
  });
  afterAll(async () => {
    await child?.stop('SIGKILL').catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('stops gracefully when SIGTERM reaches npm only, leaving no orphan serving', async () => {
    const endpoints = join(dir, 'endpoints.json');
    // A slow app and a queue to save: the stop takes long enough for npm's own exit to arrive during it.
    const app = await startRecorder(() => ({ status: 200, delayMs: 1_500 }));
    try {
      child = await startLocalChild(
        { DOWNSTREAM_URL: app.url, SLUICE_STATE_DIR: join(dir, 'state') },
        endpoints,
      );
      const pid = child.endpoints.pid;
      const flood = makeFlood({ count: 30, shops: 3, topic: 'products/update', secret: DEV_SECRET });
      expect((await sendWebhooks(flood, { baseUrl: child.endpoints.apiUrl, concurrency: 3 })).accepted).toBe(
        30,
      );

      // npm may forward the signal or not; either way local mode stops once, and its parent going away
      // during that stop does not turn it into a hard exit that skips the save.
      child.signalNpm('SIGTERM');

      await waitUntil(() => !alive(pid), 30_000, `local mode (pid ${pid}) to stop after npm did`);
      // A graceful stop: it saved the queue and removed its endpoints file on the way out.
      expect(existsSync(endpoints)).toBe(false);
      expect(child.output()).toMatch(/Saved \d+ queued webhook\(s\)/);
      expect(child.output()).not.toMatch(/exiting now/);
    } finally {
      await app.close();
    }
  });
});

describe('local mode with on-disk state after a hard kill (SIGKILL)', () => {
  let dir: string;
  let app: Recorder;
  const children: LocalChild[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-kill-'));
    app = await startRecorder(() => ({ status: 200, delayMs: 15 }));
  });
  afterAll(async () => {
    for (const c of children) await c.stop('SIGKILL').catch(() => {});
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('delivers everything accepted before the last periodic snapshot, at least once', async () => {
    const env = { DOWNSTREAM_URL: app.url, SLUICE_STATE_DIR: join(dir, 'state'), RATE_CEILING: '20' };
    const endpoints = join(dir, 'endpoints.json');
    const flood = makeFlood({ count: 120, shops: 3, topic: 'products/update', secret: DEV_SECRET });
    const snapshot = join(dir, 'state', 'queues.json');

    const first = await startLocalChild(env, endpoints);
    children.push(first);
    expect((await sendWebhooks(flood, { baseUrl: first.endpoints.apiUrl, concurrency: 3 })).accepted).toBe(
      120,
    );
    const sentAt = Date.now();
    await waitUntil(
      () => existsSync(snapshot) && statSync(snapshot).mtimeMs > sentAt,
      15_000,
      'a snapshot after the flood',
    );
    await first.stop('SIGKILL');
    const before = app.requests.length;

    const second = await startLocalChild(env, endpoints);
    children.push(second);
    await waitUntil(
      () => new Set(app.requests.map((r) => r.headers['x-shopify-webhook-id'])).size >= 120,
      60_000,
      'all 120 delivered after the restart',
    );

    expect(before).toBeLessThan(120);
    expect(new Set(app.requests.map((r) => r.headers['x-shopify-webhook-id'])).size).toBe(120);
    // At least once: only requests in flight at the kill (at most the window, MAX_IN_FLIGHT 32) may repeat.
    expect(app.requests.length - 120).toBeLessThanOrEqual(32);
  });
});
