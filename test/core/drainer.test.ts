// Drainer scenarios on the simulated clock: in-memory SQS FIFO model, in-memory state, scripted app.
import { encode, type OrderingKey, type OutgoingMessage } from '../../core/contract';
import {
  createDrainer,
  type DrainerDeps,
  type DrainerOptions,
  DrainerOptionsError,
  type WindowChange,
} from '../../core/drainer';
import type { BodyStorePort, DownstreamPort } from '../../core/ports';
import { METRICS } from '../../core/resources';
import { sign } from '../../core/signature';
import {
  type AppRequest,
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryRetries,
  MemoryState,
  RecordingMetrics,
  singleCallState,
} from '../helpers/fakes';
import { QUEUE_SECRET, type WebhookSpec, webhook } from '../helpers/queue';

interface HarnessOptions {
  readonly script?: AppScript;
  /** Give the drainer only the state store's single-id calls. @default false */
  readonly singleCalls?: boolean;
  readonly drainer?: Partial<DrainerOptions>;
  readonly bodies?: BodyStorePort;
  readonly retries?: MemoryRetries;
  /** Messages of one group per receive (AWS: up to 10, fauxqs: 1). @default 10 */
  readonly perGroup?: number;
  readonly onWindowChange?: DrainerDeps['onWindowChange'];
}

/** One simulated world: a queue, a state table, an app and a drainer factory, all on one fake clock. */
function harness(h: HarnessOptions = {}) {
  const clock = new FakeClock();
  const queue = new MemoryQueue({ clock, maxPerGroupPerReceive: h.perGroup ?? 10 });
  const state = new MemoryState();
  const app = new FakeApp(clock, h.script);
  const metrics = new RecordingMetrics();
  const logs: { level: string; msg: string; data?: Record<string, unknown> }[] = [];
  const t0 = clock.now();
  const options: DrainerOptions = {
    owner: 'run-1',
    downstreamUrl: 'https://app.example.com',
    secrets: [QUEUE_SECRET],
    pacer: { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 8, initialRatePerSecond: 20 },
    maxAttempts: 50,
    maxRetryMs: 600_000,
    downstreamTimeoutMs: 2_000,
    stopAt: t0 + 60_000,
    deadline: t0 + 70_000,
    receiveWaitSeconds: 1,
    ...h.drainer,
  };
  const enqueue = (specs: readonly WebhookSpec[], ordering: OrderingKey = 'shop'): void => {
    for (const s of specs) {
      const { envelope, body } = webhook(s);
      queue.send(encode(envelope, body, ordering));
    }
  };
  const drainer = (overrides: Partial<DrainerOptions> = {}) =>
    createDrainer(
      {
        queue,
        state: h.singleCalls ? singleCallState(state) : state,
        downstream: app,
        clock,
        metrics,
        ...(h.bodies ? { bodies: h.bodies } : {}),
        ...(h.retries ? { retries: h.retries } : {}),
        ...(h.onWindowChange ? { onWindowChange: h.onWindowChange } : {}),
        log: (level, msg, data) => logs.push(data ? { level, msg, data } : { level, msg }),
      },
      { ...options, ...overrides },
    );
  /** Runs `fn` at `ms` after the start of the simulation. */
  const at = (ms: number, fn: () => void): void => {
    void clock.sleep(t0 + ms - clock.now()).then(fn);
  };
  return { clock, queue, state, app, metrics, logs, t0, options, enqueue, drainer, at };
}

/** `n` webhooks spread over `groups` shops, ids `w0…`, in enqueue order. */
function flood(n: number, groups: number): WebhookSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    webhookId: `w${i}`,
    shop: `shop-${i % groups}.myshopify.com`,
  }));
}

const shopOf = (r: AppRequest): string => r.headers['x-shopify-shop-domain'] ?? '';
const indexOf = (id: string): number => Number(id.slice(1));

/** Webhook ids answered 2xx, in answer order. */
function accepted(app: FakeApp): string[] {
  return app.answers.filter((a) => a.status !== undefined && a.status < 300).map((a) => a.request.webhookId);
}

/** Per shop, the ids accepted must be strictly increasing (enqueue order) and each accepted once. */
function expectOrderedOnce(app: FakeApp, expectedIds: readonly string[]): void {
  const ids = accepted(app);
  expect([...ids].sort()).toEqual([...expectedIds].sort());
  const last = new Map<string, number>();
  for (const a of app.answers) {
    if (a.status === undefined || a.status >= 300) continue;
    const shop = shopOf(a.request);
    const i = indexOf(a.request.webhookId);
    expect(i).toBeGreaterThan(last.get(shop) ?? -1);
    last.set(shop, i);
  }
}

/** No two requests of one shop overlap in time: at most one in flight per group. */
function expectOneInFlightPerGroup(app: FakeApp): void {
  const open = new Map<string, number>();
  const events = [
    ...app.requests.map((r) => ({ at: r.at, kind: 1, r })),
    ...app.answers.map((a) => ({ at: a.at, kind: 0, r: a.request })),
  ].sort((x, y) => x.at - y.at || x.kind - y.kind);
  for (const e of events) {
    const shop = shopOf(e.r);
    const n = (open.get(shop) ?? 0) + (e.kind === 1 ? 1 : -1);
    expect(n).toBeLessThanOrEqual(1);
    open.set(shop, n);
  }
}

const never = (): Promise<never> => new Promise<never>(() => {});

/** Makes ports go silent at once, as a killed process would: calls after the kill never return. */
function killSwitch() {
  const k = {
    dead: false,
    wrap<T extends object>(target: T): T {
      return new Proxy(target, {
        get(obj, key, receiver) {
          const value: unknown = Reflect.get(obj, key, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (k.dead) return never();
            const result: unknown = Reflect.apply(value, obj, args);
            // An answer that comes back after the kill never reaches the dead process.
            return result instanceof Promise ? result.then((v) => (k.dead ? never() : v)) : result;
          };
        },
      });
    },
  };
  return k;
}

describe('drainer', () => {
  it('delivers every message once, in order per group, with exact headers and body bytes', async () => {
    const h = harness({ script: (_r, n) => ({ status: 200, rttMs: 5 + ((n * 7) % 40) }) });
    const specs = flood(300, 12);
    h.enqueue(specs);

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('stopped');
    expect(summary.delivered).toBe(300);
    expectOrderedOnce(
      h.app,
      specs.map((s) => s.webhookId),
    );
    expectOneInFlightPerGroup(h.app);
    for (const r of h.app.requests) {
      const { envelope, body } = webhook(specs[indexOf(r.webhookId)]);
      expect(r.url).toBe(`https://app.example.com${envelope.target}`);
      for (const [name, value] of Object.entries(envelope.headers)) expect(r.headers[name]).toBe(value);
      expect(Buffer.from(r.body).equals(Buffer.from(body, 'utf8'))).toBe(true);
      expect(r.headers['x-sluice-attempt']).toBe('1');
    }
    expect(h.queue.size).toBe(0);
    expect(h.queue.staleHandles).toBe(0);
    expect(h.state.delivered.size).toBe(300);
    expect(h.metrics.sum(METRICS.delivered)).toBe(300);
  });

  it('learns the concurrency limit of an app that refuses (503 + Retry-After) as soon as its 3 workers are busy', async () => {
    const box: { app?: FakeApp } = {};
    const h = harness({
      // FakeApp counts this request in `inFlight` before asking the script. Service times of 40–160 ms.
      script: (_r, n) =>
        (box.app?.inFlight ?? 0) > 3
          ? { status: 503, rttMs: 2, headers: { 'retry-after': '1' } }
          : { status: 200, rttMs: 40 + ((n * 37) % 121) },
    });
    box.app = h.app;
    const specs = flood(1500, 40);
    h.enqueue(specs);

    const summary = await h.drainer({ stopAt: h.t0 + 60_000, deadline: h.t0 + 70_000 }).run();

    expect(summary.delivered).toBe(1500);
    expectOrderedOnce(
      h.app,
      specs.map((s) => s.webhookId),
    );
    // All 1,500 in the minute (the app serves ~30/s): the drainer tells the pacer the level each request left
    // at, the first refusals cap the window at 3 without cutting the rate, and later requests are hardly ever
    // refused (each is a probe past the cap, 12 pauses apart). Pacing by rate alone delivered ~1,200.
    const refused = h.app.answers.filter((a) => a.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    const late = refused.filter((a) => a.at - h.t0 > 10_000);
    expect(late.length).toBeLessThanOrEqual(4);
  });

  it('keeps per-group order under 429, 503, timeouts and connection errors, with nothing dead-lettered', async () => {
    const failing = new Map<string, number>();
    const h = harness({
      script: (r, n) => {
        const seen = failing.get(r.webhookId) ?? 0;
        failing.set(r.webhookId, seen + 1);
        if (seen >= 2 || n % 4 !== 0) return { status: 200, rttMs: 8 };
        const kinds = [
          { status: 429, headers: { 'retry-after': '1' } },
          { status: 503 },
          { timeout: true } as const,
          { error: 'ECONNRESET' },
        ] as const;
        return kinds[n % 16 === 0 ? 0 : ((n / 4) % 4) | 0];
      },
    });
    const specs = flood(80, 6);
    h.enqueue(specs);

    const summary = await h.drainer({ stopAt: h.t0 + 300_000, deadline: h.t0 + 310_000 }).run();

    expectOrderedOnce(
      h.app,
      specs.map((s) => s.webhookId),
    );
    expectOneInFlightPerGroup(h.app);
    expect(summary.retried).toBeGreaterThan(10);
    expect(summary.deadLettered).toBe(0);
    expect(h.queue.dlq).toHaveLength(0);
    expect(h.metrics.sum(METRICS.responses, { StatusClass: '429' })).toBeGreaterThan(0);
    expect(h.metrics.sum(METRICS.responses, { StatusClass: 'timeout' })).toBeGreaterThan(0);
    expect(h.metrics.sum(METRICS.responses, { StatusClass: 'error' })).toBeGreaterThan(0);
  });

  it('retries a failing head in place: later messages of its group never overtake it', async () => {
    let failures = 0;
    const h = harness({
      script: (r) => (r.webhookId === 'w0' && failures++ < 5 ? { status: 503 } : { status: 200 }),
    });
    h.enqueue(flood(5, 1));

    await h.drainer().run();

    expect(accepted(h.app)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    const firstW1 = h.app.requests.findIndex((r) => r.webhookId === 'w1');
    expect(h.app.requests.slice(0, firstW1).every((r) => r.webhookId === 'w0')).toBe(true);
    expect(
      h.app.requests.filter((r) => r.webhookId === 'w0').map((r) => r.headers['x-sluice-attempt']),
    ).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('retries a 429 or 503 without Retry-After at the pacing rate first, then backs the message off', async () => {
    const gapsFor = async (status: number): Promise<number[]> => {
      let failures = 0;
      const h = harness({
        script: (r) =>
          r.webhookId === 'w0' && failures++ < 4 ? { status, rttMs: 1 } : { status: 200, rttMs: 1 },
        drainer: { pacer: { floorPerSecond: 10, ceilingPerSecond: 10, maxWindow: 1 } },
      });
      h.enqueue(flood(2, 1));
      await h.drainer().run();
      expect(accepted(h.app)).toEqual(['w0', 'w1']);
      const at = h.app.requests.filter((r) => r.webhookId === 'w0').map((r) => r.at);
      return at.slice(1).map((t, i) => t - at[i]);
    };

    // 10/s: the pacer spaces sends 100 ms apart; the message's own backoff is 200 ms · 2^(n−1).
    const paced = await gapsFor(429);
    expect(paced[0]).toBeLessThan(200);
    expect(paced[1]).toBeLessThan(200);
    expect(paced[2]).toBeGreaterThanOrEqual(200);
    expect(paced[3]).toBeGreaterThanOrEqual(400);
    expect((await gapsFor(503))[1]).toBeLessThan(200);
    // A 500 is about this message as likely as about the app: it backs off from the first failure.
    const own = await gapsFor(500);
    expect(own[0]).toBeGreaterThanOrEqual(200);
    expect(own[1]).toBeGreaterThanOrEqual(400);
  });

  it('treats a request its adapter never answers as a timeout and retries it', async () => {
    const h = harness();
    let hung = false;
    const downstream: DownstreamPort = {
      post: (request, timeoutMs) => {
        if (!hung) {
          hung = true;
          return new Promise<never>(() => {});
        }
        return h.app.post(request, timeoutMs);
      },
    };
    h.enqueue(flood(3, 1));

    const summary = await createDrainer(
      { queue: h.queue, state: h.state, downstream, clock: h.clock, metrics: h.metrics },
      h.options,
    ).run();

    expect(accepted(h.app)).toEqual(['w0', 'w1', 'w2']);
    expect(summary.retried).toBe(1);
    expect(h.metrics.sum(METRICS.responses, { StatusClass: 'timeout' })).toBe(1);
  });

  it('moves a permanent 4xx to the DLQ with status and snippet, and the group moves on', async () => {
    const h = harness({
      script: (r) =>
        r.webhookId === 'w2'
          ? { status: 410, body: 'subscription gone' }
          : r.webhookId === 'w5'
            ? { status: 404 }
            : { status: 200 },
    });
    h.enqueue(flood(9, 3));

    const summary = await h.drainer().run();

    expect(summary.deadLettered).toBe(2);
    expect(h.queue.dlq.map((d) => d.info)).toEqual([
      expect.objectContaining({ reason: 'rejected', status: 410, detail: 'subscription gone', attempts: 1 }),
      expect.objectContaining({ reason: 'rejected', status: 404, detail: 'HTTP 404', attempts: 1 }),
    ]);
    expect(accepted(h.app).sort()).toEqual(['w0', 'w1', 'w3', 'w4', 'w6', 'w7', 'w8']);
    expect(h.app.requests.filter((r) => r.webhookId === 'w2')).toHaveLength(1);
    expect(h.metrics.sum(METRICS.deadLettered, { Reason: 'rejected' })).toBe(2);
  });

  it('slows to one webhook a second while the app refuses everything, and resumes its pace at the first 2xx', async () => {
    // A deploy broke the app's webhook route: 401 to everything for 20 s, then fixed.
    let fixedAt = Number.POSITIVE_INFINITY;
    const clock = { now: () => 0 };
    const h = harness({
      script: () => (clock.now() < fixedAt ? { status: 401, body: 'bad hmac' } : { status: 200 }),
    });
    clock.now = () => h.clock.now();
    fixedAt = h.t0 + 20_000;
    h.enqueue(flood(3_000, 20));
    let deadAtFix = -1;
    h.at(20_000, () => {
      deadAtFix = h.queue.dlq.length;
    });

    const summary = await h.drainer().run();

    // Ten refused at the pacer's rate, then one a second: not the hundreds 20 s at 20–200/s would take.
    expect(deadAtFix).toBeGreaterThanOrEqual(10);
    expect(deadAtFix).toBeLessThanOrEqual(35);
    expect(summary.deadLettered).toBe(h.queue.dlq.length);
    expect(h.queue.dlq.every((d) => d.info?.reason === 'rejected' && d.info.status === 401)).toBe(true);
    expect(h.logs.some((l) => l.level === 'error' && /refuses every webhook/.test(l.msg))).toBe(true);
    expect(h.logs.some((l) => l.level === 'info' && /accepts webhooks again/.test(l.msg))).toBe(true);
    // After the fix the pacer's pace is back: far more than one a second in the remaining 40 s.
    const after = accepted(h.app).length;
    expect(after).toBeGreaterThan(400);
    expect(after + h.queue.dlq.length).toBeLessThanOrEqual(3_000);
    expectOrderedOnce(h.app, accepted(h.app));
  });

  it('while slowed, gives the turn to shops that were not refused, so a healthy shop is not starved', async () => {
    // Three uninstalled shops with a webhook per group (as under `resource`: many groups per shop) answer 401;
    // a healthy shop's 50 webhooks, behind them in the queue, are accepted.
    const h = harness({
      script: (r) => (shopOf(r).startsWith('gone') ? { status: 401 } : { status: 200 }),
    });
    const gone = Array.from({ length: 600 }, (_, i) => ({
      webhookId: `g${i}`,
      shop: `gone-${i % 3}.myshopify.com`,
    }));
    const healthy = Array.from({ length: 50 }, (_, i) => ({ webhookId: `w${i}`, shop: 'ok.myshopify.com' }));
    h.enqueue(gone, 'none');
    h.enqueue(healthy, 'shop');

    await h.drainer({ stopAt: h.t0 + 30_000, deadline: h.t0 + 40_000 }).run();

    // Every healthy webhook goes through: each 2xx ends the slow pace, and while it lasts they go first.
    expect(accepted(h.app)).toEqual(healthy.map((w) => w.webhookId));
  });

  it('ends the slow-down at the first 2xx of an app that was down for the other shops, not a minute later', async () => {
    // The app is down (503) for its live shops until 20 s; three uninstalled shops' leftovers, one per group,
    // get 401 meanwhile, which trips the slow-down.
    let upAt = Number.POSITIVE_INFINITY;
    const h = harness({
      script: (r) =>
        shopOf(r).startsWith('gone')
          ? { status: 401 }
          : h.clock.now() < upAt
            ? { status: 503 }
            : { status: 200 },
    });
    upAt = h.t0 + 20_000;
    const gone = Array.from({ length: 600 }, (_, i) => ({
      webhookId: `g${i}`,
      shop: `gone-${i % 3}.myshopify.com`,
    }));
    const live = flood(100, 5);
    h.enqueue(gone, 'none');
    h.enqueue(live, 'shop');

    await h.drainer({ stopAt: h.t0 + 40_000, deadline: h.t0 + 50_000 }).run();

    expect(h.logs.some((l) => /refuses every webhook/.test(l.msg))).toBe(true);
    expect([...accepted(h.app)].sort()).toEqual(live.map((w) => w.webhookId).sort());
    const firstLive = h.app.answers.find((a) => a.status === 200)!;
    expect(firstLive.at - h.t0).toBeLessThan(23_000);
    expectOrderedOnce(
      h.app,
      live.map((w) => w.webhookId),
    );
  });

  it("while slowed, hands refused shops' leftovers back to the queue when they fill it, to reach live shops behind", async () => {
    // Three uninstalled shops' 3,000 leftovers, one group each (as bulk edits under `resource`), are ahead of
    // live shops' webhooks. Held slots fill with the leftovers, which go one a second: nothing behind them
    // would be received for about 50 minutes.
    const h = harness({ script: (r) => (shopOf(r).startsWith('gone') ? { status: 410 } : { status: 200 }) });
    const gone = Array.from({ length: 3_000 }, (_, i) => ({
      webhookId: `g${i}`,
      shop: `gone-${i % 3}.myshopify.com`,
    }));
    const live = flood(50, 5);
    h.enqueue(gone, 'none');
    h.enqueue(live, 'shop');

    await h.drainer({ stopAt: h.t0 + 120_000, deadline: h.t0 + 130_000 }).run();

    expect(h.logs.some((l) => /parked refused shops/.test(l.msg))).toBe(true);
    expect([...accepted(h.app)].sort()).toEqual(live.map((w) => w.webhookId).sort());
    const firstLive = h.app.answers.find((a) => a.status === 200)!;
    expect(firstLive.at - h.t0).toBeLessThan(60_000);
    // Parked once or a few times, not again after every live 2xx (which used to hand them all back: 21 parks).
    expect(h.logs.filter((l) => /parked refused shops/.test(l.msg)).length).toBeLessThanOrEqual(8);
    expectOrderedOnce(
      h.app,
      live.map((w) => w.webhookId),
    );
    // Nothing lost: every leftover is in the DLQ or still queued (parked ones come back in 30 minutes).
    expect(h.queue.dlq.length + h.queue.size).toBe(3_000);
  });

  it('slows down for every shop when shops it just accepted refuse: a deploy that broke a busy app', async () => {
    // 200 shops, all accepted in the first 5 s; then every webhook gets 401.
    let brokeAt = Number.POSITIVE_INFINITY;
    const h = harness({ script: () => (h.clock.now() < brokeAt ? { status: 200 } : { status: 401 }) });
    brokeAt = h.t0 + 5_000;
    h.enqueue(flood(4_000, 200));
    let deadAt15s = -1;
    h.at(15_000, () => {
      deadAt15s = h.queue.dlq.length;
    });

    await h.drainer({ stopAt: h.t0 + 15_500, deadline: h.t0 + 25_000 }).run();

    // Not 10 s at the pacer's full rate (hundreds): the shops' recent 2xx do not keep their pace.
    expect(accepted(h.app).length).toBeGreaterThan(50);
    expect(deadAt15s).toBeLessThanOrEqual(40);
  });

  it('parks no live shop for one refusal (a deleted product): only shops refused 3 times with no 2xx since', async () => {
    const h = harness({
      script: (r) =>
        shopOf(r).startsWith('gone') || r.webhookId === 'l0' ? { status: 410 } : { status: 200 },
    });
    const gone = Array.from({ length: 3_000 }, (_, i) => ({
      webhookId: `g${i}`,
      shop: `gone-${i % 3}.myshopify.com`,
    }));
    const live = Array.from({ length: 10 }, (_, i) => ({ webhookId: `l${i}`, shop: 'live.myshopify.com' }));
    h.enqueue(gone.slice(0, 1_500), 'none');
    h.enqueue(live, 'none');
    h.enqueue(gone.slice(1_500), 'none');

    await h.drainer({ stopAt: h.t0 + 120_000, deadline: h.t0 + 130_000 }).run();

    expect([...accepted(h.app)].sort()).toEqual(
      live
        .slice(1)
        .map((w) => w.webhookId)
        .sort(),
    );
  });

  it('hands back what it parked as soon as the app accepts again, not 30 minutes later', async () => {
    // A broken deploy for a minute, then fixed: 3,000 webhooks of 20 shops, one group each.
    let fixedAt = Number.POSITIVE_INFINITY;
    const h = harness({ script: () => (h.clock.now() < fixedAt ? { status: 401 } : { status: 200 }) });
    fixedAt = h.t0 + 60_000;
    h.enqueue(flood(3_000, 20), 'none');

    await h.drainer({ stopAt: h.t0 + 150_000, deadline: h.t0 + 160_000 }).run();

    expect(h.logs.some((l) => /parked refused shops/.test(l.msg))).toBe(true);
    // Everything answered within the run: refused before the fix, accepted after it; nothing left parked.
    expect(accepted(h.app).length + h.queue.dlq.length).toBe(3_000);
    expect(h.queue.size).toBe(0);
  });

  it("does not slow down for one shop's refusals (an uninstalled shop), even with nothing else to send", async () => {
    const h = harness({ script: () => ({ status: 410, body: 'shop uninstalled' }) });
    h.enqueue(flood(300, 1));

    const summary = await h.drainer({ stopAt: h.t0 + 20_000, deadline: h.t0 + 30_000 }).run();

    // At one a second 20 s would move about 30; at the pacer's rate all 300 go.
    expect(summary.deadLettered).toBe(300);
    expect(h.logs.some((l) => /refuses every webhook/.test(l.msg))).toBe(false);
  });

  it('keeps the pace for everyone while one webhook fails again and again with an error of its own', async () => {
    // One webhook the app answers 500 every time (a bug with its payload), among 20 shops' traffic.
    const run = async (poison: boolean) => {
      const h = harness({
        script: (r) => (poison && r.webhookId === 'w5' ? { status: 500 } : { status: 200 }),
      });
      h.enqueue(flood(4_000, 20));
      await h.drainer({ stopAt: h.t0 + 15_000, deadline: h.t0 + 25_000 }).run();
      return accepted(h.app).length;
    };
    const clean = await run(false);
    const poisoned = await run(true);
    // Six of them, in six of the 20 groups, over a minute: six failures among the first answers look like
    // overload, and their retries count until first tries dilute that; they must not keep counting after.
    const minute = async (ids: readonly string[]) => {
      const h = harness({ script: (r) => (ids.includes(r.webhookId) ? { status: 500 } : { status: 200 }) });
      h.enqueue(flood(30_000, 20));
      await h.drainer({ stopAt: h.t0 + 60_000, deadline: h.t0 + 70_000 }).run();
      return accepted(h.app).length;
    };
    const cleanMinute = await minute([]);
    const six = await minute(['w5', 'w26', 'w47', 'w68', 'w89', 'w110']);
    // Six groups wait on their poison: at most 14/20 of the traffic can flow.
    expect(six).toBeGreaterThan(0.5 * cleanMinute);

    // Its group waits on it (in order): 1/20 of the traffic. Its first failure still counts (here it ends the
    // start-up climb, the larger part of the gap); its retries do not (before: 177 against 2,620).
    expect(clean).toBeGreaterThan(500);
    expect(poisoned).toBeGreaterThan(0.6 * clean);
  });

  it('still slows down for an overloaded app whose failures are 500s: retries count once failures are common', async () => {
    // A pool of 4 workers at 100 ms, 5 times slower from 30 s (8/s), behind a gateway that answers 500 once a
    // request would take over 1 s, while the work it gave up on still runs (the app stays as busy).
    const free = [0, 0, 0, 0];
    const h = harness({
      script: () => {
        const now = h.clock.now();
        const i = free.indexOf(Math.min(...free));
        const start = Math.max(now, free[i]!);
        free[i] = start + (now - h.t0 < 30_000 ? 100 : 500);
        const rtt = free[i]! - now;
        return rtt > 1_000 ? { status: 500, rttMs: 1_000 } : { status: 200, rttMs: rtt };
      },
    });
    h.enqueue(flood(40_000, 50));

    await h
      .drainer({
        stopAt: h.t0 + 120_000,
        deadline: h.t0 + 130_000,
        downstreamTimeoutMs: 10_000,
        pacer: { floorPerSecond: 1, ceilingPerSecond: 500, maxWindow: 64, initialRatePerSecond: 20 },
      })
      .run();

    // With every retry of a failing webhook ignored, 63% of the answers of the last 80 s were 500s.
    const late = h.app.answers.filter((a) => a.at - h.t0 >= 40_000);
    const failing = late.filter((a) => a.status === 500).length / late.length;
    expect(failing).toBeLessThan(0.3);
  });

  it('indexes every dead letter through the state port, with its failure, its webhook and where it landed', async () => {
    const h = harness({ script: (r) => (r.webhookId === 'w3' ? { status: 200 } : { status: 400 }) });
    h.enqueue(flood(4, 1));

    await h.drainer().run();

    expect(h.queue.dlq).toHaveLength(3);
    expect(h.state.deadLetters).toEqual(
      h.queue.dlq.map((d, i) =>
        expect.objectContaining({
          reason: 'rejected',
          status: 400,
          attempts: 1,
          failedAt: d.info?.failedAt,
          messageId: d.message.messageId,
          groupId: 'shop-0.myshopify.com',
          shop: 'shop-0.myshopify.com',
          webhookId: `w${i}`,
          topic: expect.any(String),
          target: '/webhooks',
          dlqMessageId: `dlq-${d.message.messageId}`,
          sequenceNumber: String(i + 1),
        }),
      ),
    );
    expect(h.metrics.sum(METRICS.deadLetterIndexFailures)).toBe(0);
  });

  it('still dead-letters, and the group moves on, when the index write fails: logged and counted', async () => {
    const h = harness({ script: (r) => (r.webhookId === 'w2' ? { status: 200 } : { status: 400 }) });
    h.state.failures.recordDeadLetter = 1;
    h.enqueue(flood(3, 1));

    const summary = await h.drainer().run();

    expect(summary.deadLettered).toBe(2);
    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['rejected', 'rejected']);
    expect(accepted(h.app)).toEqual(['w2']);
    expect(h.queue.size).toBe(0);
    expect(h.state.deadLetters.map((r) => r.webhookId)).toEqual(['w1']);
    expect(h.metrics.sum(METRICS.deadLetterIndexFailures)).toBe(1);
    expect(h.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(/dead letter not indexed/),
        data: expect.objectContaining({ messageId: h.queue.dlq[0]?.message.messageId }),
      }),
    );
  });

  it('sends a message that keeps failing to the DLQ as exhausted after maxAttempts', async () => {
    const h = harness({
      script: (r) => (r.webhookId === 'w0' ? { status: 500, body: 'boom' } : { status: 200 }),
      drainer: { maxAttempts: 3 },
    });
    h.enqueue(flood(3, 1));

    await h.drainer().run();

    expect(h.queue.dlq.map((d) => d.info)).toEqual([
      expect.objectContaining({ reason: 'exhausted', status: 500, detail: 'boom', attempts: 3 }),
    ]);
    expect(accepted(h.app)).toEqual(['w1', 'w2']);
  });

  it('sends a message that fails for longer than maxRetryMs to the DLQ as exhausted', async () => {
    const h = harness({
      script: (r) => (r.webhookId === 'w0' ? { timeout: true } : { status: 200 }),
      drainer: { maxRetryMs: 20_000, maxAttempts: 1_000 },
    });
    h.enqueue(flood(2, 1));

    await h.drainer().run();

    expect(h.queue.dlq[0]?.info).toMatchObject({ reason: 'exhausted', detail: 'timeout' });
    expect(h.queue.dlq[0]?.info?.status).toBeUndefined();
    expect(accepted(h.app)).toEqual(['w1']);
  });

  it('counts attempts across runs when retry memory is given, then dead-letters as exhausted', async () => {
    const retries = new MemoryRetries();
    const h = harness({
      retries,
      script: (r) => (r.webhookId === 'w0' ? { status: 500 } : { status: 200 }),
      drainer: { maxAttempts: 5 },
    });
    h.enqueue(flood(2, 1));

    await h.drainer({ stopAt: h.t0 + 2_000, deadline: h.t0 + 3_000 }).run();
    const carried = [...retries.records.values()][0];
    const t1 = h.clock.now();
    await h.drainer({ owner: 'run-2', stopAt: t1 + 60_000, deadline: t1 + 61_000 }).run();

    expect(carried?.attempts).toBeGreaterThanOrEqual(2);
    expect(carried?.attempts).toBeLessThan(5);
    expect(h.queue.dlq.map((d) => d.info)).toEqual([
      expect.objectContaining({ reason: 'exhausted', attempts: 5 }),
    ]);
    const w0 = h.app.requests.filter((r) => r.webhookId === 'w0');
    expect(w0.map((r) => r.headers['x-sluice-attempt'])).toEqual(['1', '2', '3', '4', '5']);
    expect(accepted(h.app)).toEqual(['w1']);
  });

  it('loses nothing when a run is killed mid-flight: only what was in flight is delivered twice', async () => {
    const h = harness({
      script: () => ({ status: 200, rttMs: 150 }),
      drainer: {
        leaseTtlMs: 5_000,
        visibilitySeconds: 10,
        pacer: { floorPerSecond: 40, ceilingPerSecond: 40, maxWindow: 8 },
      },
    });
    const specs = flood(300, 10);
    h.enqueue(specs);
    const kill = killSwitch();
    const dead = createDrainer(
      {
        queue: kill.wrap(h.queue),
        state: kill.wrap(h.state),
        downstream: kill.wrap(h.app),
        clock: {
          now: () => h.clock.now(),
          sleep: (ms, signal) => (kill.dead ? never() : h.clock.sleep(ms, signal)),
        },
        metrics: h.metrics,
      },
      h.options,
    );
    void dead.run();
    let recordedAtKill = new Set<string>();
    let killedAt = 0;
    h.at(3_000, () => {
      kill.dead = true;
      killedAt = h.clock.now();
      recordedAtKill = new Set(h.state.delivered.keys());
    });
    const next = h.drainer({ owner: 'run-2', stopAt: h.t0 + 120_000, deadline: h.t0 + 130_000 });
    let second: Promise<unknown> = Promise.resolve();
    h.at(9_000, () => {
      second = next.run();
    });
    await h.clock.sleep(9_001);
    await second;

    const ids = accepted(h.app);
    expect(new Set(ids)).toEqual(new Set(specs.map((s) => s.webhookId)));
    const twice = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
    expect(twice.length).toBeGreaterThan(0);
    expect(twice.length).toBeLessThanOrEqual(h.options.pacer.maxWindow);
    expect(recordedAtKill.size).toBeLessThan(300);
    for (const id of twice) {
      expect(recordedAtKill.has(id)).toBe(false);
      expect(h.app.requests.find((r) => r.webhookId === id)!.at).toBeLessThanOrEqual(killedAt);
    }
    const afterKill = h.app.requests.filter((r) => r.at > killedAt).map((r) => r.webhookId);
    for (const id of afterKill) expect(recordedAtKill.has(id)).toBe(false);
    expect(h.queue.size).toBe(0);
    expect(h.queue.dlq).toHaveLength(0);
  });

  it('never forwards a forged signature and dead-letters it as signature', async () => {
    const h = harness();
    h.enqueue([
      { webhookId: 'w0' },
      { webhookId: 'w1', hmac: sign('not-the-secret', 'x') },
      { webhookId: 'w2', secret: 'wrong-secret' },
      { webhookId: 'w3' },
    ]);

    const summary = await h.drainer().run();

    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w0', 'w3']);
    expect(summary.deadLettered).toBe(2);
    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['signature', 'signature']);
    expect(h.metrics.sum(METRICS.signatureFailures)).toBe(2);
  });

  it('keeps dead-lettering forged webhooks at full speed while real ones pass between them', async () => {
    const specs = flood(300, 20).map((w, i) =>
      i % 3 === 0 ? w : { ...w, hmac: sign('attacker', Buffer.from(w.webhookId)) },
    );
    const h = harness();
    h.enqueue(specs);

    const summary = await h.drainer({ stopAt: h.t0 + 10_000, deadline: h.t0 + 20_000 }).run();

    expect(summary.deadLettered).toBe(200);
    expect(accepted(h.app)).toHaveLength(100);
    expect(h.logs.some((l) => /fails its signature/.test(l.msg))).toBe(false);
  });

  it("moves a group's unsendable webhooks to the DLQ in queue order, behind one ahead of them still being tried", async () => {
    // A wrong secret, and SQS throttling the first DLQ send once (retried 500 ms later): moved at once, each
    // raced the others and the throttled one landed last. Ahead of them, w0 is good but its app answers 500
    // twice before a 410: its dead letter must come first.
    const h = harness({
      script: (r, n) =>
        r.webhookId === 'w0' ? (n < 2 ? { status: 500 } : { status: 410 }) : { status: 200 },
    });
    let calls = 0;
    const inner = h.queue.deadLetter.bind(h.queue);
    h.queue.deadLetter = async (m, info) => {
      if (info.reason === 'signature' && calls++ === 0) {
        throw Object.assign(new Error('ThrottlingException'), { retryable: true });
      }
      return inner(m, info);
    };
    h.enqueue([
      { webhookId: 'w0', shop: 'one.myshopify.com' },
      ...Array.from({ length: 9 }, (_, i) => ({
        webhookId: `w${i + 1}`,
        shop: 'one.myshopify.com',
        secret: 'rotated-secret',
      })),
    ]);

    await h.drainer({ stopAt: h.t0 + 20_000, deadline: h.t0 + 30_000 }).run();

    expect(h.queue.dlq.map((d) => d.message.attributes.WebhookId?.StringValue)).toEqual(
      Array.from({ length: 10 }, (_, i) => `w${i}`),
    );
  });

  it('accepts either secret during a rotation', async () => {
    const h = harness({ drainer: { secrets: ['new-secret', QUEUE_SECRET] } });
    h.enqueue([{ webhookId: 'w0', secret: 'new-secret' }, { webhookId: 'w1' }]);

    await h.drainer().run();

    expect(accepted(h.app)).toEqual(['w0', 'w1']);
  });

  it('skips a webhook id already delivered and deletes it as a duplicate', async () => {
    const h = harness();
    h.state.delivered.set('w1', h.t0 + 3_600_000);
    h.state.delivered.set('w2', h.t0 - 1); // expired record: treated as absent
    h.enqueue(flood(3, 1));

    const summary = await h.drainer().run();

    expect(accepted(h.app)).toEqual(['w0', 'w2']);
    expect(summary.duplicates).toBe(1);
    expect(h.metrics.sum(METRICS.duplicates)).toBe(1);
    expect(h.queue.size).toBe(0);
  });

  it('forwards the same webhook id enqueued twice only once', async () => {
    const h = harness({ script: () => ({ status: 200, rttMs: 50 }) });
    const { envelope, body } = webhook({ webhookId: 'w0' });
    const first = encode(envelope, body, 'shop');
    const again: OutgoingMessage = { ...first, dedupId: `${first.dedupId}-later` };
    h.queue.send(first);
    h.enqueue([{ webhookId: 'w1' }]);
    h.queue.send(again);

    const summary = await h.drainer().run();

    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w0', 'w1']);
    expect(summary.duplicates).toBe(1);
    expect(h.queue.size).toBe(0);
  });

  it('asks the state store once per received batch and writes delivered records in batches', async () => {
    const h = harness({
      drainer: {
        pacer: { floorPerSecond: 1, ceilingPerSecond: 400, maxWindow: 8, initialRatePerSecond: 200 },
      },
    });
    h.enqueue(flood(100, 10));

    const summary = await h.drainer().run();

    expect(summary.delivered).toBe(100);
    expect(h.state.delivered.size).toBe(100);
    expect(h.state.calls.wasDeliveredMany ?? 0).toBeLessThanOrEqual(10);
    expect(h.state.calls.markDeliveredMany ?? 0).toBeLessThan(100);
    expect(h.state.calls.wasDelivered ?? 0).toBe(0);
    expect(h.state.calls.markDelivered ?? 0).toBe(0);
    expect(h.queue.size).toBe(0);
  });

  it('writes records and deletes at once when it has nothing else to send, so a FIFO group is not held up', async () => {
    const h = harness({
      perGroup: 1,
      script: () => ({ status: 200, rttMs: 5 }),
      drainer: {
        pacer: { floorPerSecond: 1, ceilingPerSecond: 400, maxWindow: 8, initialRatePerSecond: 400 },
      },
    });
    h.enqueue(flood(5, 1));

    await h.drainer().run();

    // One group, one message per receive: each next message waits on the delete of the one before it.
    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
    const gaps = h.app.requests.slice(1).map((r, i) => r.at - h.app.requests[i]!.at);
    expect(Math.max(...gaps)).toBeLessThan(20);
  });

  // A message kept for want of its record came back and was certainly delivered again, after the later
  // webhooks of its group the app had already taken; deleted, it is delivered again only if a twin arrives.
  it('deletes delivered messages at exit even when their records could not be written all run', async () => {
    const h = harness();
    h.state.failures.markDeliveredMany = 1_000_000;
    h.enqueue(flood(5, 1));

    const summary = await h.drainer({ stopAt: h.t0 + 5_000, deadline: h.t0 + 8_000 }).run();

    expect(summary.delivered).toBe(5);
    expect(h.state.delivered.size).toBe(0);
    expect(h.queue.size).toBe(0);
    expect(h.logs.some((l) => l.msg.includes('delivered records not written by the deadline'))).toBe(true);

    // The next run has nothing to send again.
    h.state.failures.markDeliveredMany = 0;
    await h.drainer().run();
    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4']);
  });

  it('deletes a twin caught in memory only after the record of its delivery is written', async () => {
    const h = harness({ script: () => ({ status: 200, rttMs: 50 }) });
    h.state.failures.markDeliveredMany = 3;
    const { envelope, body } = webhook({ webhookId: 'w0' });
    const first = encode(envelope, body, 'shop');
    h.queue.send(first);
    h.queue.send({ ...first, dedupId: `${first.dedupId}-later` });

    const summary = await h.drainer().run();

    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w0']);
    expect(summary.duplicates).toBe(1);
    expect(h.state.delivered.has('w0')).toBe(true);
    expect(h.queue.size).toBe(0);
  });

  it('works with a state store that has only the single-id calls', async () => {
    const h = harness({ singleCalls: true });
    h.state.delivered.set('w1', h.t0 + 3_600_000);
    h.enqueue(flood(6, 2));

    const summary = await h.drainer().run();

    expect(accepted(h.app).sort()).toEqual(['w0', 'w2', 'w3', 'w4', 'w5']);
    expect(summary.duplicates).toBe(1);
    expect(h.state.calls.wasDelivered).toBeGreaterThan(0);
    expect(h.state.calls.wasDeliveredMany ?? 0).toBe(0);
    expect(h.state.delivered.size).toBe(6);
    expect(h.queue.size).toBe(0);
  });

  it('delivers nothing when another drainer holds the lease', async () => {
    const h = harness();
    h.state.lease = { owner: 'someone-else', expiresAt: h.t0 + 30_000 };
    h.enqueue(flood(5, 1));

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('lease-held');
    expect(summary.delivered).toBe(0);
    expect(h.app.requests).toHaveLength(0);
    expect(h.queue.calls.receive).toBe(0);
    expect(h.state.lease).toEqual({ owner: 'someone-else', expiresAt: h.t0 + 30_000 });
  });

  it('stops sending and exits lease-lost when another drainer takes the lease', async () => {
    const h = harness({
      script: () => ({ status: 200, rttMs: 20 }),
      drainer: { leaseTtlMs: 3_000, pacer: { floorPerSecond: 5, ceilingPerSecond: 5, maxWindow: 4 } },
    });
    h.enqueue(flood(200, 4));
    h.at(5_000, () => {
      h.state.lease = { owner: 'thief', expiresAt: h.t0 + 600_000 };
    });

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('lease-lost');
    // Renewals run every ttl/3 = 1 s: nothing leaves later than that after the theft.
    expect(Math.max(...h.app.requests.map((r) => r.at)) - h.t0).toBeLessThanOrEqual(6_000);
    expect(h.queue.inFlight()).toBe(0);
    expect(h.state.lease?.owner).toBe('thief');
    expect(h.state.saves.every((s) => s.at < h.t0 + 6_000)).toBe(true);
  });

  it('applies an operator floor above the configured ceiling as the ceiling, saying so once', async () => {
    // `sluice rate --floor 300` under the configured ceiling of 200.
    const h = harness({ drainer: { controlsRefreshMs: 1_000 } });
    h.state.controls = { paused: false, floorPerSecond: 300 };
    h.enqueue(flood(4_000, 40));

    const drainer = h.drainer({ stopAt: h.t0 + 10_000, deadline: h.t0 + 20_000 });
    await drainer.run();

    expect(drainer.status().ratePerSecond).toBeLessThanOrEqual(200);
    expect(h.logs.filter((l) => /floor is above the ceiling/.test(l.msg))).toHaveLength(1);
    expect(h.logs.some((l) => /operator controls rejected/.test(l.msg))).toBe(false);
  });

  it('receives nothing while paused by the operator, then drains on resume', async () => {
    const h = harness({ drainer: { visibilitySeconds: 10, controlsRefreshMs: 1_000 } });
    h.state.controls = { paused: true };
    h.enqueue(flood(20, 4));
    let receivesWhilePaused = -1;
    h.at(30_000, () => {
      receivesWhilePaused = h.queue.calls.receive;
      h.state.controls = { paused: false };
    });

    const summary = await h.drainer().run();

    // Each receive of a message that cannot be sent would count towards SQS's receive limit (1000).
    expect(receivesWhilePaused).toBe(0);
    expect(Math.min(...h.app.requests.map((r) => r.at)) - h.t0).toBeGreaterThanOrEqual(30_000);
    expect(accepted(h.app)).toHaveLength(20);
    expect(h.queue.staleHandles).toBe(0);
    expect(summary.duplicates).toBe(0);
  });

  it('receives nothing in later runs while the pause lasts', async () => {
    const h = harness({ drainer: { controlsRefreshMs: 1_000 } });
    h.enqueue(flood(40, 4));
    h.at(0, () => {
      h.state.controls = { paused: true };
    });

    await h.drainer({ stopAt: h.t0 + 20_000, deadline: h.t0 + 25_000 }).run();
    const afterFirst = h.queue.calls.receive;
    const t1 = h.clock.now();
    await h.drainer({ owner: 'run-2', stopAt: t1 + 20_000, deadline: t1 + 25_000 }).run();

    expect(h.queue.calls.receive).toBe(afterFirst);
    expect(h.app.requests).toHaveLength(0);
    expect(h.queue.size).toBe(40);
  });

  it('releases held messages at stopAt, persists the pacer and the lease, and the next run resumes the rate', async () => {
    let capacityLeft = 0;
    let windowStart = 0;
    const h = harness({
      // A rate-limited app: 8 requests per second, 429 beyond.
      script: (r) => {
        if (r.at - windowStart >= 1_000) {
          windowStart = r.at;
          capacityLeft = 8;
        }
        return capacityLeft-- > 0 ? { status: 200, rttMs: 5 } : { status: 429, rttMs: 5 };
      },
      drainer: { stopAt: 0, deadline: 0 },
    });
    h.enqueue(flood(600, 6));
    const first = h.drainer({ stopAt: h.t0 + 20_000, deadline: h.t0 + 25_000 });

    const summary = await first.run();

    expect(summary.outcome).toBe('stopped');
    expect(summary.delivered).toBeGreaterThan(100);
    expect(h.queue.size).toBe(600 - summary.delivered - summary.deadLettered);
    expect(h.queue.inFlight()).toBe(0);
    expect(h.state.lease).toBeUndefined();
    const saved = h.state.pacer;
    expect(saved).toBeDefined();
    expect(h.state.saves.at(-1)?.at).toBeGreaterThanOrEqual(h.t0 + 20_000);

    const t1 = h.clock.now();
    const second = h.drainer({ owner: 'run-2', stopAt: t1 + 5_000, deadline: t1 + 6_000 });
    await second.run();
    const started = h.logs.filter((l) => l.msg === 'drainer started');
    expect(started[1]?.data).toMatchObject({ owner: 'run-2', resumed: true });
    expect(Number(started[1]?.data?.ratePerSecond)).toBeGreaterThan(4);
    expect(Number(started[1]?.data?.ratePerSecond)).toBeLessThan(12);
  });

  it('never sends during an announced Retry-After wait', async () => {
    const h = harness({
      script: (_r, n) =>
        n % 7 === 0
          ? { status: 429, headers: { 'retry-after': '2' }, rttMs: 15 }
          : { status: 200, rttMs: 15 },
    });
    h.enqueue(flood(100, 10));

    await h.drainer({ stopAt: h.t0 + 300_000, deadline: h.t0 + 310_000 }).run();

    const pauses = h.app.answers
      .filter((a) => a.status === 429)
      .map((a) => ({ from: a.at, to: a.at + 2_000 }));
    expect(pauses.length).toBeGreaterThan(5);
    for (const r of h.app.requests) {
      for (const p of pauses) expect(r.at > p.from && r.at < p.to).toBe(false);
    }
    expect(accepted(h.app)).toHaveLength(100);
    expect(h.metrics.sum(METRICS.backoffTime)).toBeGreaterThan(0);
  });

  it('spaces sends at the pacing rate', async () => {
    const h = harness({
      script: () => ({ status: 200, rttMs: 5 }),
      drainer: { pacer: { floorPerSecond: 10, ceilingPerSecond: 10, maxWindow: 8 } },
    });
    h.enqueue(flood(50, 5));

    const drainer = h.drainer();
    expect(drainer.status().pace).toBeUndefined();
    await drainer.run();

    // The ceiling holds the rate (floor and ceiling are both 10/s), and the status says so.
    expect(drainer.status().pace).toMatchObject({ rateBound: 'ceiling', ratePerSecond: 10 });
    // The log says it once, when it first holds, not at every save.
    const paces = h.logs.filter((l) => l.msg === 'pace');
    expect(paces.map((l) => l.data)).toEqual([
      { setBy: 'ceiling', ratePerSecond: 10, window: expect.any(Number), windowSetBy: 'rate' },
    ]);
    const at = h.app.requests.map((r) => r.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100 - 10);
    expect((at[at.length - 1] - at[0]) / gaps.length).toBeGreaterThanOrEqual(99);
    expect(accepted(h.app)).toHaveLength(50);
  });

  it('keeps the number of requests in flight within the window', async () => {
    const h = harness({
      script: () => ({ status: 200, rttMs: 200 }),
      drainer: {
        pacer: { floorPerSecond: 1, ceilingPerSecond: 500, maxWindow: 3, initialRatePerSecond: 100 },
      },
    });
    h.enqueue(flood(200, 50));

    await h.drainer().run();

    expect(h.app.maxInFlight).toBe(3);
    expect(accepted(h.app)).toHaveLength(200);
  });

  it('tells each change of the delay window as it happens, with the rule that made it', async () => {
    // Round trips of 50 ms that jump to 400 ms: the delay window halves, and its verify rounds decide.
    const changes: WindowChange[] = [];
    const h = harness({
      script: (_, i) => ({ status: 200, rttMs: i < 150 ? 50 : 400 }),
      drainer: {
        pacer: { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 8, initialRatePerSecond: 50 },
      },
      onWindowChange: (c) => changes.push(c),
    });
    h.enqueue(flood(300, 50));

    const drainer = h.drainer();
    await drainer.run();

    expect(changes.some((c) => c.to < c.from && c.at >= h.t0)).toBe(true);
    for (let i = 1; i < changes.length; i += 1) {
      expect(changes[i].from).toBe(changes[i - 1].to);
      expect(changes[i].at).toBeGreaterThanOrEqual(changes[i - 1].at);
    }
    expect(changes.every((c) => c.rule !== 'start')).toBe(true);
    // Each change carries the base its rules compare rounds with: the 50 ms of the start when the jump halves
    // the window, then a slower one once the halving's verify round reads no lower (the app got slower).
    expect(changes[0]).toMatchObject({ rule: 'halving', baseRttMs: 50 });
    expect(changes.at(-1)?.baseRttMs).toBeGreaterThan(2 * 50);
    // The last change is where the window stands, as the status tells it.
    expect(drainer.status().pace).toMatchObject({
      delayWindow: changes.at(-1)?.to,
      windowRule: changes.at(-1)?.rule,
    });
    expect(accepted(h.app)).toHaveLength(300);
  });

  it('serves a quiet shop within about one pacing slot while another shop has a backlog', async () => {
    const h = harness({
      drainer: { pacer: { floorPerSecond: 10, ceilingPerSecond: 10, maxWindow: 4 } },
    });
    h.enqueue(Array.from({ length: 200 }, (_, i) => ({ webhookId: `w${i}`, shop: 'busy.myshopify.com' })));
    h.at(3_000, () => h.enqueue([{ webhookId: 'w999', shop: 'quiet.myshopify.com' }]));

    await h.drainer().run();

    const quiet = h.app.requests.find((r) => r.webhookId === 'w999');
    expect(quiet).toBeDefined();
    expect(quiet!.at - (h.t0 + 3_000)).toBeLessThanOrEqual(2 * 100);
  });

  it('dead-letters an unreadable message as contract', async () => {
    const h = harness();
    h.queue.send({ body: '{}', groupId: 'g', dedupId: 'broken', attributes: { Topic: 'x' } });
    h.enqueue([{ webhookId: 'w0', shop: 'g' }]);

    await h.drainer().run();

    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['contract']);
    expect(accepted(h.app)).toEqual(['w0']);
  });

  it('fetches a claim-checked body and dead-letters one whose body is gone', async () => {
    const stored = new Map([['bodies/w0', new TextEncoder().encode('{"big":"✓"}')]]);
    const bodies: BodyStorePort = { get: async (key) => stored.get(key) };
    const h = harness({ bodies });
    const spec0 = { webhookId: 'w0', body: '{"big":"✓"}', claimCheck: 'bodies/w0' };
    const spec1 = { webhookId: 'w1', body: '{"big":"gone"}', claimCheck: 'bodies/w1' };
    h.enqueue([spec0, spec1]);

    await h.drainer().run();

    expect(h.app.requests).toHaveLength(1);
    expect(new TextDecoder().decode(h.app.requests[0].body)).toBe('{"big":"✓"}');
    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['body-missing']);
  });

  // Failing reads were retried all run and the message released with its group each minute, until SQS's own
  // redrive took them all to the DLQ at 1000 receives (~17 h) without a reason.
  it('dead-letters a claim-checked message whose body keeps failing to read, with the error, after 30 receives', async () => {
    const bodies: BodyStorePort = {
      get: async () => {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      },
    };
    const h = harness({ bodies });
    h.enqueue([{ webhookId: 'w0', body: '{"big":1}', claimCheck: 'bodies/w0' }, { webhookId: 'w1' }]);

    let runs = 0;
    while (h.queue.dlq.length === 0 && runs < 40) {
      runs++;
      await h.drainer({ stopAt: h.clock.now() + 20_000, deadline: h.clock.now() + 25_000 }).run();
      await h.clock.advance(60_000);
    }

    expect(runs).toBe(30);
    expect(h.queue.dlq[0]?.info).toMatchObject({ reason: 'body-missing' });
    expect(h.queue.dlq[0]?.info?.detail).toContain('Access Denied');
    await h.drainer().run();
    expect(accepted(h.app)).toEqual(['w1']);
    expect(h.queue.size).toBe(0);
  });

  // The move was retried whole, so each retry past the DLQ's 5-minute deduplication added a copy there.
  it('after a move whose delete failed, retries only the delete: one copy in the DLQ', async () => {
    const h = harness({ script: (r) => (r.webhookId === 'w0' ? { status: 410 } : { status: 200 }) });
    h.queue.deadLetterDeleteFailures = 3;
    h.enqueue(flood(3, 1));

    await h.drainer().run();

    expect(h.queue.dlq.map((d) => d.message.messageId)).toHaveLength(1);
    expect(h.queue.calls.deadLetter).toBe(1);
    expect(accepted(h.app)).toEqual(['w1', 'w2']);
    expect(h.queue.size).toBe(0);
  });

  it('with retry memory, dead-letters a body that keeps failing to read after 30 minutes of failing', async () => {
    const retries = new MemoryRetries();
    const bodies: BodyStorePort = {
      get: async () => {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      },
    };
    const h = harness({ bodies, retries });
    h.enqueue([{ webhookId: 'w0', body: '{"big":1}', claimCheck: 'bodies/w0' }, { webhookId: 'w1' }]);

    let runs = 0;
    while (h.queue.dlq.length === 0 && runs < 40) {
      runs++;
      await h.drainer({ stopAt: h.clock.now() + 20_000, deadline: h.clock.now() + 25_000 }).run();
      await h.clock.advance(40_000);
    }

    expect(runs).toBe(31);
    expect(h.queue.dlq[0]?.info).toMatchObject({ reason: 'body-missing' });
    expect(h.queue.dlq[0]?.info?.detail).toMatch(/could not be read for 30 min: AccessDenied: Access Denied/);
    expect(accepted(h.app)).toEqual(['w1']);
  });

  // Received often only because it waited behind others, its body had never failed: one bad run is no reason.
  it('does not dead-letter a body that fails in one run after many receives that read it fine', async () => {
    const retries = new MemoryRetries();
    let failing = true;
    const stored = new Map([['bodies/w0', new TextEncoder().encode('{"big":1}')]]);
    const bodies: BodyStorePort = {
      get: async (key) => {
        if (failing) throw new Error('socket hang up');
        return stored.get(key);
      },
    };
    const h = harness({ bodies, retries });
    h.enqueue([{ webhookId: 'w0', body: '{"big":1}', claimCheck: 'bodies/w0' }]);
    for (let i = 0; i < 35; i++) {
      const got = await h.queue.receive(10, 0, 30);
      await h.queue.changeVisibility(
        got.map((m) => m.receiptHandle),
        0,
      );
    }

    await h.drainer({ stopAt: h.clock.now() + 20_000, deadline: h.clock.now() + 25_000 }).run();
    expect(h.queue.dlq).toEqual([]);
    failing = false;
    await h.clock.advance(60_000);
    await h.drainer({ stopAt: h.clock.now() + 20_000, deadline: h.clock.now() + 25_000 }).run();

    expect(accepted(h.app)).toEqual(['w0']);
    expect(h.queue.dlq).toEqual([]);
  });

  // The record a body failure wrote once counted as a delivery failure from then on, and its clock ran on
  // while nobody tried: two days later a 2 s S3 blip, or a single 500, dead-lettered the webhook.
  it('counts neither time nobody tried nor a past body failure against a webhook', async () => {
    const retries = new MemoryRetries();
    let bodyFails = true;
    let answers500 = 0;
    const bodies: BodyStorePort = {
      get: async () => {
        if (bodyFails) throw new Error('SlowDown');
        return new TextEncoder().encode('{"big":1}');
      },
    };
    const h = harness({
      bodies,
      retries,
      script: () => (answers500-- > 0 ? { status: 500 } : { status: 200 }),
    });
    h.enqueue([{ webhookId: 'w0', body: '{"big":1}', claimCheck: 'bodies/w0' }]);
    const run = () => h.drainer({ stopAt: h.clock.now() + 20_000, deadline: h.clock.now() + 25_000 }).run();

    await run();
    await h.clock.advance(2 * 24 * 3_600_000); // the drainer paused, or down, for two days
    await run(); // S3 fails again, briefly
    expect(h.queue.dlq).toEqual([]);
    await h.clock.advance(60_000);
    bodyFails = false;
    answers500 = 1;
    await run();

    expect(h.queue.dlq).toEqual([]);
    expect(accepted(h.app)).toEqual(['w0']);
  });

  it('stops retrying the delete after a move when SQS refuses the receipt for good; back, it is only deleted', async () => {
    const retries = new MemoryRetries();
    const h = harness({ retries, script: (r) => (r.webhookId === 'w0' ? { status: 410 } : { status: 200 }) });
    h.queue.deadLetterDeleteFailures = 1;
    const deletes = h.queue.deleteMessages.bind(h.queue);
    let refused = 0;
    h.queue.deleteMessages = async (handles) => {
      if (refused === 0 && handles.length === 1 && handles[0]?.startsWith('m-1#')) {
        refused++;
        throw Object.assign(new Error('ReceiptHandleIsInvalid'), { retryable: false });
      }
      return deletes(handles);
    };
    h.enqueue(flood(1, 1));

    await h.drainer({ stopAt: h.t0 + 60_000, deadline: h.t0 + 65_000 }).run();

    expect(refused).toBe(1);
    expect(h.queue.dlq).toHaveLength(1);
    expect(h.logs.some((l) => l.msg.includes('not deleted from the queue'))).toBe(true);
    // The copy is in the DLQ: indexed for `sluice dlq list` and counted, once.
    expect(h.state.deadLetters.map((d) => d.reason)).toEqual(['rejected']);
    expect(h.metrics.sum(METRICS.deadLettered)).toBe(1);

    // It comes back after its visibility: deleted, not sent to the app again, not moved again.
    await h.clock.advance(120_000);
    const t1 = h.clock.now();
    await h.drainer({ stopAt: t1 + 20_000, deadline: t1 + 25_000 }).run();
    expect(h.app.requests.filter((r) => r.webhookId === 'w0')).toHaveLength(1);
    expect(h.queue.dlq).toHaveLength(1);
    expect(h.queue.size).toBe(0);
  });

  // Checked after the signature, the mark was never reached: a forged webhook back in the queue was moved again.
  it('deletes a forged webhook whose DLQ copy landed but whose delete failed, when it comes back', async () => {
    const retries = new MemoryRetries();
    const h = harness({ retries });
    h.queue.deadLetterDeleteFailures = 1;
    const deletes = h.queue.deleteMessages.bind(h.queue);
    let refused = 0;
    h.queue.deleteMessages = async (handles) => {
      if (refused === 0 && handles.length === 1) {
        refused++;
        throw Object.assign(new Error('ReceiptHandleIsInvalid'), { retryable: false });
      }
      return deletes(handles);
    };
    h.enqueue([{ webhookId: 'w0', secret: 'wrong-secret' }]);

    await h.drainer({ stopAt: h.t0 + 20_000, deadline: h.t0 + 25_000 }).run();
    await h.clock.advance(120_000);
    const t1 = h.clock.now();
    await h.drainer({ stopAt: t1 + 20_000, deadline: t1 + 25_000 }).run();

    expect(h.queue.dlq.map((d) => d.info?.reason)).toEqual(['signature']);
    expect(h.metrics.sum(METRICS.signatureFailures)).toBe(1);
    expect(h.queue.size).toBe(0);
  });

  it('never sends a webhook whose path would climb out of the downstream URL, and dead-letters it', async () => {
    const h = harness();
    h.enqueue([{ webhookId: 'w0', target: '/%2e%2e/admin/delete-all' }, { webhookId: 'w1' }]);

    await h.drainer().run();

    expect(h.app.requests.map((r) => r.webhookId)).toEqual(['w1']);
    expect(h.queue.dlq[0]?.info).toMatchObject({ reason: 'contract' });
    expect(h.queue.dlq[0]?.info?.detail).toContain('would leave the downstream URL');
  });

  it('stops on abort, releasing what it holds', async () => {
    const controller = new AbortController();
    const h = harness({
      script: () => ({ status: 200, rttMs: 10 }),
      drainer: { signal: controller.signal, pacer: { floorPerSecond: 5, ceilingPerSecond: 5, maxWindow: 2 } },
    });
    h.enqueue(flood(100, 2));
    h.at(2_000, () => controller.abort());

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('aborted');
    expect(h.clock.now() - h.t0).toBeLessThan(3_000);
    expect(h.queue.inFlight()).toBe(0);
    expect(h.queue.size).toBe(100 - summary.delivered);
    expect(h.state.lease).toBeUndefined();
  });

  it('exits idle once the queue has been empty for idleExitMs', async () => {
    const h = harness({ drainer: { idleExitMs: 3_000 } });
    h.enqueue(flood(3, 1));

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('idle');
    expect(summary.delivered).toBe(3);
    expect(h.clock.now() - h.t0).toBeLessThan(10_000);
  });

  it('exits idle between long polls, never leaving one running past the run', async () => {
    const h = harness({ drainer: { idleExitMs: 30_000, receiveWaitSeconds: 20 } });
    const polls: { start: number; waitSeconds: number; end: number; cutShort: boolean }[] = [];
    const receive = h.queue.receive.bind(h.queue);
    h.queue.receive = async (max, waitSeconds, visibility, signal) => {
      const start = h.clock.now();
      const got = await receive(max, waitSeconds, visibility, signal);
      polls.push({ start, waitSeconds, end: h.clock.now(), cutShort: signal?.aborted ?? false });
      return got;
    };

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('idle');
    // A full first poll, then one cut to end at the idle time; none aborted, none outlasting the run.
    expect(polls.map((p) => [p.start - h.t0, p.waitSeconds])).toEqual([
      [0, 20],
      [20_000, 10],
    ]);
    expect(polls.every((p) => !p.cutShort && p.start + p.waitSeconds * 1000 <= h.clock.now())).toBe(true);
    expect(h.clock.now() - h.t0).toBe(30_000);
  });

  it('does not spin while the idle time has passed but a poll is still out', async () => {
    // Polls of whole seconds: the second one ends 0.5 s after the idle time.
    const h = harness({ drainer: { idleExitMs: 5_500, receiveWaitSeconds: 5 } });
    let sleeps = 0;
    const sleep = h.clock.sleep.bind(h.clock);
    h.clock.sleep = (ms, signal) => {
      sleeps++;
      return sleep(ms, signal);
    };

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('idle');
    expect(h.clock.now() - h.t0).toBe(6_000);
    // A handful of timers (polls, lease, controls), not one per millisecond of the last 0.5 s.
    expect(sleeps).toBeLessThan(50);
  });

  it('still takes a webhook that arrives before the idle time, then exits idle after it', async () => {
    const h = harness({ drainer: { idleExitMs: 5_000, receiveWaitSeconds: 5 } });
    h.at(3_000, () => h.enqueue(flood(1, 1)));

    const summary = await h.drainer().run();

    expect(summary.outcome).toBe('idle');
    expect(summary.delivered).toBe(1);
    expect(h.clock.now() - h.t0).toBeGreaterThanOrEqual(8_000);
  });

  it('keeps going through state-table outages without losing a message', async () => {
    const h = harness();
    h.state.failures.wasDeliveredMany = 3;
    h.state.failures.markDeliveredMany = 2;
    h.state.failures.renewLease = 1;
    h.enqueue(flood(10, 2));

    const summary = await h.drainer().run();

    expect(accepted(h.app).sort()).toEqual(
      flood(10, 2)
        .map((s) => s.webhookId)
        .sort(),
    );
    expect(summary.lastError).toBeDefined();
    expect(h.queue.size).toBe(0);
  });

  it('applies operator floor and ceiling while running', async () => {
    const h = harness({ drainer: { controlsRefreshMs: 500 } });
    h.state.controls = { paused: false, ceilingPerSecond: 2 };
    h.enqueue(flood(40, 4));

    const summary = await h.drainer({ stopAt: h.t0 + 10_000, deadline: h.t0 + 12_000 }).run();

    expect(summary.ratePerSecond).toBeLessThanOrEqual(2);
    expect(summary.delivered).toBeLessThanOrEqual(22);
  });

  it('emits only low-cardinality dimensions', async () => {
    const h = harness({ script: (_r, n) => (n === 2 ? { status: 404 } : { status: 200 }) });
    h.enqueue(flood(5, 5));

    await h.drainer().run();

    const keys = new Set(h.metrics.entries.flatMap((e) => Object.keys(e.dimensions ?? {})));
    expect([...keys].sort()).toEqual(['Reason', 'StatusClass']);
    expect(h.metrics.sum(METRICS.pacingRate)).toBeGreaterThan(0);
    expect(h.metrics.flushes).toBeGreaterThan(0);
  });

  it('rejects invalid options with the field, the value and what is allowed', () => {
    const h = harness();
    expect(() => h.drainer({ secrets: [] })).toThrow(DrainerOptionsError);
    expect(() => h.drainer({ maxAttempts: 0 })).toThrow(/maxAttempts is 0; allowed: an integer ≥ 1/);
    expect(() => h.drainer({ downstreamUrl: 'app.example.com' })).toThrow(/downstreamUrl/);
  });
});
