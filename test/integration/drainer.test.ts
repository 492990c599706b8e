/**
 * The drainer end to end (issue 3, must-show 1–8): the real core and adapters against fauxqs and dynalite
 * in-process and a scripted app on loopback. Every run is bounded by its own budget and idle exit.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Message } from '@aws-sdk/client-sqs';
import { readDrainerState } from '../../adapters';
import { ATTR } from '../../core/contract';
import { createPacer, ratePerSecond } from '../../core/pacer';
import { FAILURE_ATTRIBUTE, METRICS, TABLE } from '../../core/resources';
import { createResources, type LocalResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';
import { drainAll, enqueue, type WebhookSpec, webhook } from '../helpers/queue';
import { type ScriptedApp, startScriptedApp } from '../helpers/scripted-app';
import { runDrainer } from './harness';

/** `count` webhooks over `groups` shops, interleaved, in enqueue order. */
function flood(prefix: string, count: number, groups: number): WebhookSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    webhookId: `${prefix}-${i}`,
    shop: `${prefix}-shop-${i % groups}.myshopify.com`,
    topic: i % 3 === 0 ? 'orders/create' : 'products/update',
    target: `/webhooks/${i % 3 === 0 ? 'orders' : 'products'}?shop=${i % groups}`,
    // Varying sizes and characters a re-serialisation would change: escaped slashes, big ids, non-ASCII.
    body: `{"id":${9_007_199_254_740_993n + BigInt(i)},"path":"a\\/b","name":"Ünïcødé Cafe\u0301 ${i}","pad":"${'x'.repeat(i % 200)}"}`,
  }));
}

/** Webhook ids per shop in the order the app committed them. */
function committedOrder(app: ScriptedApp): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of app.committed()) out.set(e.shop, [...(out.get(e.shop) ?? []), e.webhookId]);
  return out;
}

/** Webhook ids per shop in enqueue order. */
function expectedOrder(specs: readonly WebhookSpec[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of specs) {
    const shop = s.shop ?? 'shop-1.myshopify.com';
    out.set(shop, [...(out.get(shop) ?? []), s.webhookId]);
  }
  return out;
}

const countBy = (ids: readonly string[]): Map<string, number> => {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
};

const failureOf = (m: Message): { reason: string; status?: number; detail?: string } =>
  JSON.parse(m.MessageAttributes?.[FAILURE_ATTRIBUTE]?.StringValue ?? '{}');

describe('drainer integration (fauxqs + dynalite + loopback app)', () => {
  const { emulators, clients } = useEmulators();
  let app: ScriptedApp;
  let n = 0;

  beforeEach(async () => {
    app = await startScriptedApp();
  });
  afterEach(async () => {
    await app.close();
  });

  /** Fresh queue, DLQ, table and bucket for one test. */
  const fresh = (): Promise<LocalResources> => {
    n++;
    return createResources(clients, { queue: `it-${n}`, table: `it-table-${n}`, bucket: `it-bucket-${n}` });
  };

  it('1: delivers 2,000 webhooks over 50 groups exactly once, in group order, byte- and header-exact', async () => {
    const r = await fresh();
    const specs = flood('one', 2_000, 50);
    await enqueue(clients.sqs, r.queueUrl, specs);

    const { summary } = await runDrainer(clients, r, app.url, { idleExitMs: 2_000 });

    expect(summary.outcome).toBe('idle');
    expect(summary.delivered).toBe(2_000);
    const committed = app.committed();
    expect(committed).toHaveLength(2_000);
    expect([...countBy(committed.map((e) => e.webhookId)).values()].every((c) => c === 1)).toBe(true);
    expect(app.exchanges).toHaveLength(2_000);
    expect(committedOrder(app)).toEqual(expectedOrder(specs));
    const byId = new Map(specs.map((s) => [s.webhookId, webhook(s)]));
    for (const e of committed) {
      const sent = byId.get(e.webhookId)!;
      expect(e.body.equals(Buffer.from(sent.body, 'utf8'))).toBe(true);
      for (const [name, value] of Object.entries(sent.envelope.headers)) {
        if (name.startsWith('x-shopify-')) expect(e.headers[name]).toBe(value);
      }
      expect(e.url).toBe(sent.envelope.target);
      expect(e.headers['x-sluice-attempt']).toBe('1');
    }
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
  });

  it('2a: sends nothing during an announced Retry-After, dead-letters none, and delivers all afterwards', async () => {
    const r = await fresh();
    const specs = flood('ra', 150, 10);
    await enqueue(clients.sqs, r.queueUrl, specs);
    // Two overload episodes: 429 with Retry-After 1 s for the 20th–24th and the 80th–81st arrivals.
    app.setScript((req) =>
      (req.n >= 20 && req.n < 25) || req.n === 80 || req.n === 81
        ? { status: 429, headers: { 'retry-after': '1' } }
        : { status: 200 },
    );

    const { summary, sends } = await runDrainer(clients, r, app.url);

    expect(summary.outcome).toBe('idle');
    const waits = sends.filter((s) => s.retryAfterMs !== undefined);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    for (const w of waits) {
      const inside = sends.filter((s) => s.sentAt > w.doneAt && s.sentAt < w.doneAt + w.retryAfterMs!);
      expect(inside).toEqual([]);
    }
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
    expect(app.committed()).toHaveLength(150);
    expect(committedOrder(app)).toEqual(expectedOrder(specs));
  });

  it('2b: rides out a burst of 503s in place: nothing dead-lettered, all delivered once, in order', async () => {
    const r = await fresh();
    const specs = flood('b503', 300, 10);
    await enqueue(clients.sqs, r.queueUrl, specs);
    app.setScript((req) => (req.n >= 50 && req.n < 75 ? { status: 503 } : { status: 200 }));

    const { summary, metrics } = await runDrainer(clients, r, app.url);

    expect(summary.outcome).toBe('idle');
    expect(metrics.total(METRICS.retried)).toBeGreaterThanOrEqual(25);
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
    expect(app.committed()).toHaveLength(300);
    expect(committedOrder(app)).toEqual(expectedOrder(specs));
  });

  it('2c: retries timed-out requests in place: nothing dead-lettered, each committed once, in order', async () => {
    const r = await fresh();
    const specs = flood('slow', 60, 6);
    await enqueue(clients.sqs, r.queueUrl, specs);
    // Every 10th of the first 40 arrivals answers after the drainer's 500 ms timeout.
    app.setScript((req) =>
      req.n < 40 && req.n % 10 === 5 ? { status: 200, delayMs: 1_500 } : { status: 200 },
    );

    const { summary, sends } = await runDrainer(clients, r, app.url, { downstreamTimeoutMs: 500 });

    expect(summary.outcome).toBe('idle');
    expect(sends.filter((s) => s.result.kind === 'timeout').length).toBeGreaterThanOrEqual(4);
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
    expect(app.committed()).toHaveLength(60);
    expect(committedOrder(app)).toEqual(expectedOrder(specs));
  });

  it('3: moves 400/401/404/410 answers to the DLQ with reason and status, and their groups move on', async () => {
    const r = await fresh();
    const specs = flood('perm', 80, 4);
    await enqueue(clients.sqs, r.queueUrl, specs);
    const rejected: Record<string, number> = {
      'perm-8': 400,
      'perm-13': 401,
      'perm-22': 404,
      'perm-31': 410,
    };
    app.setScript((req) => ({ status: rejected[req.webhookId] ?? 200 }));

    const { summary, metrics } = await runDrainer(clients, r, app.url);

    expect(summary.outcome).toBe('idle');
    const dlq = await drainAll(clients.sqs, r.dlqUrl);
    const got = Object.fromEntries(
      dlq.map((m) => [m.MessageAttributes?.[ATTR.webhookId]?.StringValue, failureOf(m)]),
    );
    expect(Object.keys(got).sort()).toEqual(Object.keys(rejected).sort());
    for (const [id, status] of Object.entries(rejected)) {
      expect(got[id]).toMatchObject({ reason: 'rejected', status });
      expect(got[id]?.detail).toContain(`answer ${status}`);
    }
    expect(metrics.get(METRICS.deadLettered, { Reason: 'rejected' }).sum).toBe(4);
    const delivered = specs.filter((s) => !(s.webhookId in rejected));
    expect(app.committed()).toHaveLength(76);
    expect(committedOrder(app)).toEqual(expectedOrder(delivered));
    // The DLQ copy is the webhook as it was: body and group kept for a replay.
    const dl8 = dlq.find((m) => m.MessageAttributes?.[ATTR.webhookId]?.StringValue === 'perm-8')!;
    expect(dl8.Body).toBe(webhook(specs[8]!).body);
    expect(dl8.Attributes?.MessageGroupId).toBe(specs[8]!.shop);
  });

  it('4: never forwards a forged signature and dead-letters it with reason signature', async () => {
    const r = await fresh();
    const specs: WebhookSpec[] = [
      { webhookId: 'sig-0', shop: 'sig.myshopify.com' },
      { webhookId: 'sig-forged', shop: 'sig.myshopify.com', secret: 'not-the-secret' },
      { webhookId: 'sig-2', shop: 'sig.myshopify.com' },
    ];
    await enqueue(clients.sqs, r.queueUrl, specs);

    const { metrics } = await runDrainer(clients, r, app.url);

    expect(app.exchanges.map((e) => e.webhookId)).toEqual(['sig-0', 'sig-2']);
    const dlq = await drainAll(clients.sqs, r.dlqUrl);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.MessageAttributes?.[ATTR.webhookId]?.StringValue).toBe('sig-forged');
    expect(failureOf(dlq[0]!)).toMatchObject({ reason: 'signature' });
    expect(metrics.total(METRICS.signatureFailures)).toBe(1);
  });

  it('5: loses nothing when killed mid-run; only what was in flight is delivered twice, recorded ids never', async () => {
    const r = await fresh();
    const specs = flood('kill', 400, 20);
    await enqueue(clients.sqs, r.queueUrl, specs);
    // A slow-ish app, so the kill lands with requests in flight.
    app.setScript(() => ({ status: 200, delayMs: 20 }));
    const child = spawn(
      process.execPath,
      // tsx as a loader in this very process (its CLI would fork a grandchild that SIGKILL would miss).
      ['--import', 'tsx', path.join(__dirname, 'drainer-child.ts')],
      {
        env: {
          ...process.env,
          CHILD_SQS_ENDPOINT: emulators.sqsEndpoint,
          CHILD_DYNAMO_ENDPOINT: emulators.dynamoEndpoint,
          CHILD_RESOURCES: JSON.stringify(r),
          CHILD_DOWNSTREAM_URL: app.url,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let childErr = '';
    child.stderr?.on('data', (d: Buffer) => {
      childErr += d.toString();
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    // Bounded wait (not an assertion on speed): until a third has been committed, or the child gave up.
    for (let i = 0; i < 600 && app.committed().length < 120 && child.exitCode === null; i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(child.exitCode).toBeNull();
    child.kill('SIGKILL');
    await exited;
    const atKill = app.exchanges.length;
    const scan = await clients.dynamo.send(new ScanCommand({ TableName: r.tableName }));
    const recorded = new Set(
      (scan.Items ?? [])
        .map((i) => i[TABLE.partitionKey]?.S ?? '')
        .filter((k) => k.startsWith(TABLE.deliveredPrefix))
        .map((k) => k.slice(TABLE.deliveredPrefix.length)),
    );
    expect(recorded.size).toBeGreaterThan(0);

    // The next run waits out the dead run's lease (3 s TTL) and its messages' visibility (6 s).
    let outcome = 'lease-held';
    for (let i = 0; i < 30 && outcome === 'lease-held'; i++) {
      const run = await runDrainer(clients, r, app.url, { idleExitMs: 8_000, budgetMs: 40_000 });
      outcome = run.summary.outcome;
      if (outcome === 'lease-held') await new Promise((res) => setTimeout(res, 500));
    }
    expect(childErr).not.toMatch(/Error/);

    expect(outcome).toBe('idle');
    const counts = countBy(app.committed().map((e) => e.webhookId));
    expect(specs.every((s) => (counts.get(s.webhookId) ?? 0) >= 1)).toBe(true);
    const twice = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
    // At most one in flight per group and at most a window's worth overall.
    expect(twice.length).toBeLessThanOrEqual(20);
    expect(twice.filter((id) => recorded.has(id))).toEqual([]);
    const afterKill = app.exchanges.slice(atKill).map((e) => e.webhookId);
    expect(afterKill.filter((id) => recorded.has(id))).toEqual([]);
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
  }, 90_000);

  it('6: a second drainer started while one holds the lease delivers nothing', async () => {
    const r = await fresh();
    await enqueue(clients.sqs, r.queueUrl, flood('lease', 60, 3));
    app.setScript(() => ({ status: 200, delayMs: 30 }));
    let second: Awaited<ReturnType<typeof runDrainer>> | undefined;

    const first = await runDrainer(clients, r, app.url, {
      onStart: (_drainer, downstream) => {
        // Once the first is delivering, start the second against the same table and queue.
        downstream.onSend = () => {
          downstream.onSend = undefined;
          void runDrainer(clients, r, app.url).then((run) => {
            second = run;
          });
        };
      },
    });
    for (let i = 0; i < 100 && second === undefined; i++) await new Promise((res) => setTimeout(res, 50));

    expect(second?.summary.outcome).toBe('lease-held');
    expect(second?.sends).toEqual([]);
    expect(second?.summary.delivered).toBe(0);
    expect(first.summary.delivered).toBe(60);
  });

  it('7: exits cleanly at its time budget, and the next run starts from the persisted rate', async () => {
    const r = await fresh();
    const specs = flood('budget', 400, 20);
    await enqueue(clients.sqs, r.queueUrl, specs);
    app.setScript(() => ({ status: 200, delayMs: 5 }));
    const pacer = { floorPerSecond: 1, ceilingPerSecond: 60, maxWindow: 16, initialRatePerSecond: 2 };

    const first = await runDrainer(clients, r, app.url, { pacer, budgetMs: 4_000, windDownMs: 3_000 });

    expect(first.summary.outcome).toBe('stopped');
    expect(first.summary.held).toBe(0);
    expect(first.summary.delivered).toBeGreaterThan(0);
    expect(first.summary.delivered).toBeLessThan(400);
    const saved = await readDrainerState(clients.dynamo, r.tableName);
    expect(saved.lease).toBeUndefined();
    expect(saved.pacer).toBeDefined();
    const learned = saved.pacer!.ratePerSecond;
    expect(learned).toBeGreaterThan(20);

    let startRate = 0;
    const second = await runDrainer(clients, r, app.url, {
      pacer,
      log: (_level, msg, data) => {
        if (msg === 'drainer started') startRate = Number(data?.ratePerSecond);
      },
    });

    expect(second.summary.outcome).toBe('idle');
    // Near what the first run learned (how much it learned in 4 s depends on the machine's load), far above 2/s.
    expect(startRate).toBeGreaterThan(learned / 2);
    // A restored pacer resumes on the plateau of what it learned, not at the configured initial rate (2/s).
    const resumed = createPacer(pacer, saved.pacer!.savedAt, saved.pacer!.state);
    expect(startRate).toBeGreaterThanOrEqual(0.9 * ratePerSecond(resumed, saved.pacer!.savedAt));
    const counts = countBy(app.committed().map((e) => e.webhookId));
    expect(specs.every((s) => counts.get(s.webhookId) === 1)).toBe(true);
    expect(committedOrder(app)).toEqual(expectedOrder(specs));
  });

  it('8: forwards the same webhook id enqueued twice (past the queue dedup) only once', async () => {
    const r = await fresh();
    const twin: WebhookSpec = { webhookId: 'dup-1', shop: 'dup.myshopify.com' };
    await enqueue(clients.sqs, r.queueUrl, [twin, { webhookId: 'dup-2', shop: 'dup.myshopify.com' }]);
    // A second copy with another SQS dedup id, as after the 5-minute window: queued behind its twin…
    await enqueue(clients.sqs, r.queueUrl, [twin], { dedupSuffix: '#again' });

    const first = await runDrainer(clients, r, app.url);
    // …and a third copy after the first was delivered and deleted.
    await enqueue(clients.sqs, r.queueUrl, [twin], { dedupSuffix: '#later' });
    const second = await runDrainer(clients, r, app.url);

    expect(app.exchanges.map((e) => e.webhookId)).toEqual(['dup-1', 'dup-2']);
    expect(first.metrics.total(METRICS.duplicates) + second.metrics.total(METRICS.duplicates)).toBe(2);
    expect(await drainAll(clients.sqs, r.queueUrl)).toEqual([]);
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
  });

  it('9: a 2xx whose body arrives slowly is delivered once, not retried as a timeout', async () => {
    const r = await fresh();
    const specs = flood('trickle', 3, 1);
    await enqueue(clients.sqs, r.queueUrl, specs);
    // The status at once, then a body trickling for longer than the drainer's timeout (a streaming app).
    app.setScript(() => ({ status: 200, bodyTrickleMs: 3_000 }));

    const { summary } = await runDrainer(clients, r, app.url, {
      downstreamTimeoutMs: 1_000,
      idleExitMs: 2_000,
    });

    expect(app.exchanges.map((e) => e.webhookId)).toEqual(specs.map((s) => s.webhookId));
    expect(summary).toMatchObject({ delivered: 3, retried: 0, deadLettered: 0 });
    expect(await drainAll(clients.sqs, r.queueUrl)).toEqual([]);
    expect(await drainAll(clients.sqs, r.dlqUrl)).toEqual([]);
  });
});
