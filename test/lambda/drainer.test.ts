import type { DrainerAdapters } from '../../adapters';
import { parseConfig, type SluiceConfig } from '../../core/config';
import { encode } from '../../core/contract';
import * as pacer from '../../core/pacer';
import { METRICS } from '../../core/resources';
import {
  budgetOf,
  type DrainerHandlerDeps,
  makeDrainerHandler,
  OVERRUN_GRACE_MS,
  SCHEDULE_PERIOD_MS,
} from '../../lambda/drainer';
import {
  type AppScript,
  FakeApp,
  FakeClock,
  MemoryQueue,
  MemoryState,
  RecordingMetrics,
} from '../helpers/fakes';
import { QUEUE_SECRET, webhook } from '../helpers/queue';

// A pass-through: the real pacer handles every signal, and the test sees which signals the drainer sent it.
jest.mock('../../core/pacer', () => {
  const actual = jest.requireActual<typeof pacer>('../../core/pacer');
  return { ...actual, onSignal: jest.fn(actual.onSignal) };
});
const onSignal = jest.mocked(pacer.onSignal);

const TICK = Date.parse('2026-11-25T14:00:00Z');

describe('budgetOf', () => {
  it('ends the run 3 s before the next tick and stops taking work one timeout (+2 s) earlier', () => {
    const b = budgetOf('2026-11-25T14:00:00Z', TICK + 1_000, 90_000, 10_000);

    expect(b.deadline).toBe(TICK + SCHEDULE_PERIOD_MS - 3_000);
    expect(b.stopAt).toBe(b.deadline - 12_000);
  });

  it('aims at the tick after now when the event is late (a delayed or retried invocation)', () => {
    const b = budgetOf('2026-11-25T14:00:00Z', TICK + 95_000, 90_000, 10_000);

    expect(b.deadline).toBe(TICK + 2 * SCHEDULE_PERIOD_MS - 3_000);
  });

  it('never runs past the Lambda timeout minus a flush margin', () => {
    const b = budgetOf('2026-11-25T14:00:00Z', TICK + 1_000, 20_000, 10_000);

    expect(b.deadline).toBe(TICK + 1_000 + 15_000);
  });

  it('caps the wind-down at 20 s for long downstream timeouts, and falls back to now without an event time', () => {
    const b = budgetOf(undefined, TICK, 90_000, 120_000);

    expect(b.deadline).toBe(TICK + SCHEDULE_PERIOD_MS - 3_000);
    expect(b.deadline - b.stopAt).toBe(20_000);
  });

  it('gives a zero-length budget rather than one in the past', () => {
    const b = budgetOf('2026-11-25T14:00:00Z', TICK + 59_000, 90_000, 10_000);

    expect(b.stopAt).toBeGreaterThanOrEqual(TICK + 59_000);
    expect(b.deadline).toBeGreaterThanOrEqual(b.stopAt);
  });
});

describe('drainer handler', () => {
  const defaults = parseConfig({ downstreamUrl: 'https://app.example.com' });

  function harness(
    secrets: readonly string[] = [QUEUE_SECRET],
    config: SluiceConfig = defaults,
    script?: AppScript,
    extra: Partial<DrainerHandlerDeps> = {},
  ) {
    const clock = new FakeClock({ start: TICK + 500 });
    const queue = new MemoryQueue({ clock });
    const state = new MemoryState();
    const app = new FakeApp(clock, script);
    const metrics = new RecordingMetrics();
    const adapters: DrainerAdapters = {
      queue,
      state,
      downstream: app,
      clock,
      metrics,
      retries: { get: async () => undefined, put: async () => {} },
      settle: async () => {
        settled.push(clock.now());
      },
      close: async () => {},
    };
    const settled: number[] = [];
    const logs: string[] = [];
    const handler = makeDrainerHandler({
      adapters,
      config,
      secrets: async () => secrets,
      log: (_level, msg) => logs.push(msg),
      now: () => clock.now(),
      ...extra,
    });
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 90_000 };
    // Each receive's long-poll wait, as the handler's options shape it.
    const waits: number[] = [];
    const receive = queue.receive.bind(queue);
    queue.receive = (max, waitSeconds, visibility, signal) => {
      waits.push(waitSeconds);
      return receive(max, waitSeconds, visibility, signal);
    };
    return { clock, queue, state, app, metrics, logs, handler, context, waits, settled };
  }

  it('delivers what is queued within the budget and ends before the next tick', async () => {
    const h = harness();
    for (let i = 0; i < 5; i++) {
      const { envelope, body } = webhook({ webhookId: `w${i}` });
      h.queue.send(encode(envelope, body, 'shop'));
    }

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result).toEqual({ outcome: 'stopped', delivered: 5, deadLettered: 0 });
    expect(h.app.requests).toHaveLength(5);
    expect(h.clock.now()).toBeLessThanOrEqual(TICK + SCHEDULE_PERIOD_MS - 3_000);
    expect(h.state.lease).toBeUndefined();
    expect(h.metrics.sum(METRICS.delivered)).toBe(5);
  });

  it('goes on a minute at a time while delivering through a backlog, up to the function timeout', async () => {
    const h = harness(undefined, { ...defaults, rateCeilingPerSecond: 10 });
    for (let i = 0; i < 3_000; i++) {
      const { envelope, body } = webhook({ webhookId: `w${i}`, shop: `s${i % 20}.myshopify.com` });
      h.queue.send(encode(envelope, body, 'shop'));
    }
    // The function's timeout (15 min) as Lambda reports it at the start of a run.
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 15 * 60_000 - 500 };

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, context);

    // 3 000 webhooks at 10/s: five minutes of work, done in one run rather than over seven minute-long ones.
    expect(result).toEqual({ outcome: 'stopped', delivered: 3_000, deadLettered: 0 });
    const ranFor = h.clock.now() - TICK;
    expect(ranFor).toBeGreaterThan(5 * SCHEDULE_PERIOD_MS);
    // It stopped on a budget ending 3 s before a tick: the next tick's run starts on time.
    expect(ranFor % SCHEDULE_PERIOD_MS).toBeLessThanOrEqual(SCHEDULE_PERIOD_MS - 3_000);
  });

  it('fails soon after the deadline when a closing call to its own infrastructure hangs', async () => {
    const h = harness();
    const { envelope, body } = webhook({ webhookId: 'w' });
    h.queue.send(encode(envelope, body, 'shop'));
    // DynamoDB stops answering as the run releases its lease.
    h.state.releaseLease = () => new Promise<void>(() => {});
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 15 * 60_000 };

    // A failed invocation (the dashboard's Errors widget), with what the run did.
    await expect(h.handler({ time: '2026-11-25T14:00:00Z' }, context)).rejects.toMatchObject({
      code: 'drainer-overrun',
      detail: { delivered: 1, deadLettered: 0 },
    });
    // Not at the function's 15-minute timeout: every tick meanwhile would have been lost.
    const deadline = TICK + SCHEDULE_PERIOD_MS - 3_000;
    expect(h.clock.now()).toBeLessThanOrEqual(deadline + OVERRUN_GRACE_MS);
    // Before the next tick, which then finds the function free.
    expect(h.clock.now()).toBeLessThan(TICK + SCHEDULE_PERIOD_MS);
    expect(h.logs).toContain('drainer run overran its deadline; returning without its closing calls');
  });

  // The SDK has no timeout by default: a hung secret read held the function, and every tick, for 15 minutes.
  it('fails when reading the secret hangs, instead of holding the function', async () => {
    const h = harness(undefined, defaults, undefined, {
      secrets: () => new Promise<never>(() => {}),
      secretsTimeoutMs: 50,
    });

    await expect(h.handler({ time: '2026-11-25T14:00:00Z' }, h.context)).rejects.toMatchObject({
      code: 'secrets-timeout',
    });
    expect(h.app.requests).toHaveLength(0);
  });

  it('does nothing, cleanly, when too little of the function time is left to run and close', async () => {
    const h = harness();
    const { envelope, body } = webhook({ webhookId: 'w' });
    h.queue.send(encode(envelope, body, 'shop'));

    const result = await h.handler(
      { time: '2026-11-25T14:00:00Z' },
      { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 2_000 },
    );

    expect(result).toEqual({ outcome: 'no-budget', delivered: 0, deadLettered: 0 });
    expect(h.state.lease).toBeUndefined();
    expect(h.queue.size).toBe(1);
  });

  it('polls an empty queue until the run stops when idleExitSeconds is 0 (the default)', async () => {
    const h = harness();

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result.outcome).toBe('stopped');
    expect(h.clock.now()).toBe(budgetOf('2026-11-25T14:00:00Z', TICK + 500, 90_000, 10_000).stopAt);
    expect(h.waits[0]).toBe(20);
  });

  it('ends an idle run after idleExitSeconds, its first poll no longer than that', async () => {
    const config = parseConfig({ downstreamUrl: 'https://app.example.com', idleExitSeconds: 10 });
    const h = harness([QUEUE_SECRET], config);

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result).toEqual({ outcome: 'idle', delivered: 0, deadLettered: 0 });
    expect(h.waits).toEqual([10]);
    expect(h.clock.now()).toBe(TICK + 500 + 10_000);
    expect(h.state.lease).toBeUndefined();
  });

  it('delivers what is queued before exiting idle, and keeps 20 s polls for a long idle exit', async () => {
    const config = parseConfig({ downstreamUrl: 'https://app.example.com', idleExitSeconds: 30 });
    const h = harness([QUEUE_SECRET], config);
    for (let i = 0; i < 3; i++) {
      const { envelope, body } = webhook({ webhookId: `w${i}` });
      h.queue.send(encode(envelope, body, 'shop'));
    }

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result).toEqual({ outcome: 'idle', delivered: 3, deadLettered: 0 });
    expect(h.waits[0]).toBe(20);
    expect(h.clock.now()).toBeLessThan(budgetOf('2026-11-25T14:00:00Z', TICK + 500, 90_000, 10_000).stopAt);
  });

  describe('serviceTimeMetric', () => {
    // The app announces its processing time of each request: 12.5 ms of a 40 ms round trip.
    const announcing: AppScript = () => ({
      status: 200,
      headers: { 'server-timing': 'db;dur=3, app;dur=12.5' },
      rttMs: 40,
    });

    async function acceptedSignals(config: SluiceConfig): Promise<pacer.Signal[]> {
      const h = harness([QUEUE_SECRET], config, announcing);
      for (let i = 0; i < 3; i++) {
        const { envelope, body } = webhook({ webhookId: `w${i}` });
        h.queue.send(encode(envelope, body, 'shop'));
      }
      onSignal.mockClear();

      const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

      expect(result).toEqual({ outcome: 'stopped', delivered: 3, deadLettered: 0 });
      return onSignal.mock.calls.map(([, signal]) => signal).filter((s) => s.kind === 'accepted');
    }

    it('ignores the Server-Timing header by default (serviceTimeMetric empty)', async () => {
      expect(defaults.serviceTimeMetric).toBe('');

      const signals = await acceptedSignals(defaults);

      expect(signals).toHaveLength(3);
      for (const s of signals) expect(s).not.toHaveProperty('serviceMs');
    });

    it("passes serviceTimeMetric to the drainer: the app's processing time reaches the pacer", async () => {
      const config = parseConfig({ downstreamUrl: 'https://app.example.com', serviceTimeMetric: 'app' });

      const signals = await acceptedSignals(config);

      expect(signals).toHaveLength(3);
      for (const s of signals) expect(s).toMatchObject({ kind: 'accepted', rttMs: 40, serviceMs: 12.5 });
    });
  });

  it("writes the core's own lines to the function log: each dead letter and the pace", async () => {
    const h = harness();
    const good = webhook({ webhookId: 'good' });
    h.queue.send(encode(good.envelope, good.body, 'shop'));
    const forged = webhook({ webhookId: 'forged', secret: 'not-the-secret' });
    h.queue.send(encode(forged.envelope, forged.body, 'shop'));

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result).toEqual({ outcome: 'stopped', delivered: 1, deadLettered: 1 });
    // The dashboard's "Why this pace" widget reads the `pace` lines.
    expect(h.logs).toEqual(expect.arrayContaining(['message dead-lettered', 'pace', 'drainer run ended']));
  });

  it('waits for abandoned long polls to hand back what they received before returning', async () => {
    const h = harness();

    await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(h.settled).toHaveLength(1);
    expect(h.settled[0]).toBeLessThanOrEqual(TICK + SCHEDULE_PERIOD_MS - 3_000);
  });

  it('resolves with lease-held, delivering nothing, when another run holds the lease', async () => {
    const h = harness();
    h.state.lease = { owner: 'other', expiresAt: TICK + 60_000 };
    const { envelope, body } = webhook({ webhookId: 'w' });
    h.queue.send(encode(envelope, body, 'shop'));

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result.outcome).toBe('lease-held');
    expect(h.app.requests).toHaveLength(0);
  });

  it('keeps every message queued when the Shopify secret is not set yet', async () => {
    const h = harness([]);
    const { envelope, body } = webhook({ webhookId: 'w' });
    h.queue.send(encode(envelope, body, 'shop'));

    const result = await h.handler({ time: '2026-11-25T14:00:00Z' }, h.context);

    expect(result.outcome).toBe('secret-unset');
    expect(h.state.lease).toBeUndefined();
    expect(h.queue.size).toBe(1);
    expect(h.logs).toContain('the Shopify secret is not set; nothing is delivered until it is');
  });
});
