// Sluice flows of the benchmark: the real drainer core (scheduler + pacer) over in-memory queue and state ports.
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { type AttributeValue, type Envelope, encode } from '../../core/contract';
import { createDrainer, type Drainer } from '../../core/drainer';
import type { PacerState } from '../../core/pacer';
import type {
  Clock,
  DeliveryRequest,
  DeliveryResult,
  DownstreamPort,
  MetricsPort,
  OperatorControls,
  QueuedMessage,
  QueuePort,
  StatePort,
} from '../../core/ports';
import type { DeadLetterInfo } from '../../core/resources';
import { sign } from '../../core/signature';
import { type FlowLog, flatHeaders, flowAgent, logAnswer, logSend, logWaits } from './flows';
import { CLIENT_TIMEOUT_MS, type Scenario } from './scenarios';

/** A Sluice flow variant. */
export interface SluiceVariant {
  readonly key: string;
  readonly label: string;
  /** Message groups in the backlog; 1 = strictly serial (per-group order allows one in flight). */
  readonly groups: number;
  /** Scenarios with Lmax > 1 where the one-group variant runs too. */
  readonly alsoConcurrent: readonly string[];
}

export const SLUICE_FLOWS: readonly SluiceVariant[] = [
  { key: 'groups', label: 'Sluice (many groups)', groups: 64, alsoConcurrent: [] },
  { key: 'serial', label: 'Sluice (one group)', groups: 1, alsoConcurrent: ['F'] },
];

const SECRET = 'bench-secret';
/** How long a Sluice flow's drainer runs past the end of the measured span. */
const RUN_ON_MS = 2_000;

/** Ordering seen by the app: 2xx deliveries of a group that arrived after a later one of the same group. */
export interface OrderCheck {
  delivered: number;
  outOfOrder: number;
  deadLettered: number;
}

/**
 * An SQS FIFO queue holding an endless, signed backlog of `groups` groups. Like SQS it never returns a
 * message of a group while an earlier one of it is received and undeleted (group locking).
 */
class BacklogQueue implements QueuePort {
  private readonly next: number[];
  /** Per group: sequence numbers received and not deleted, in order; released ones go back to the head. */
  private readonly held: number[][];
  private readonly returned: number[][];
  private readonly byHandle = new Map<string, { group: number; seq: number }>();
  private cursor = 0;
  private waiters = new Set<() => void>();

  constructor(
    private readonly groups: number,
    private readonly target: string,
    readonly check: OrderCheck,
  ) {
    this.next = new Array<number>(groups).fill(0);
    this.held = Array.from({ length: groups }, () => []);
    this.returned = Array.from({ length: groups }, () => []);
  }

  private message(group: number, seq: number): QueuedMessage {
    const body = JSON.stringify({ id: seq, group, note: 'bench webhook' });
    const hmac = sign(SECRET, body);
    const env: Envelope = {
      hmac,
      topic: 'orders/create',
      shop: `shop-${group}.myshopify.com`,
      webhookId: `g${group}-${seq}`,
      apiVersion: '2025-07',
      target: this.target,
      receivedAt: Date.now(),
      headers: {
        'content-type': 'application/json',
        'x-shopify-hmac-sha256': hmac,
        'x-shopify-topic': 'orders/create',
        'x-shopify-shop-domain': `shop-${group}.myshopify.com`,
        'x-shopify-webhook-id': `g${group}-${seq}`,
        'x-shopify-api-version': '2025-07',
      },
    };
    const out = encode(env, body, 'shop');
    const attributes: Record<string, AttributeValue> = {};
    for (const [k, v] of Object.entries(out.attributes)) attributes[k] = { StringValue: v };
    const handle = `${group}:${seq}:${Math.random().toString(36).slice(2)}`;
    this.byHandle.set(handle, { group, seq });
    return {
      messageId: env.webhookId,
      receiptHandle: handle,
      groupId: out.groupId,
      body: out.body,
      attributes,
      receiveCount: 1,
      sentAt: Date.now(),
    };
  }

  async receive(maxMessages: number, waitSeconds: number, _vis: number, signal?: AbortSignal) {
    const end = Date.now() + waitSeconds * 1000;
    for (;;) {
      const out: QueuedMessage[] = [];
      for (let scanned = 0; scanned < this.groups && out.length < maxMessages; scanned += 1) {
        const g = this.cursor;
        this.cursor = (this.cursor + 1) % this.groups;
        if (this.held[g].length > 0) continue;
        // Like SQS, one receive may return a few consecutive messages of the same group, in order.
        for (let k = 0; k < 10 && out.length < maxMessages; k += 1) {
          const seq = this.returned[g].shift() ?? this.next[g]++;
          this.held[g].push(seq);
          out.push(this.message(g, seq));
        }
      }
      if (out.length > 0 || signal?.aborted || Date.now() >= end) return out;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, end - Date.now()));
        this.waiters.add(done);
        signal?.addEventListener('abort', done);
      });
    }
  }

  private unlock(handle: string, requeue: boolean): void {
    const m = this.byHandle.get(handle);
    if (!m) return;
    this.byHandle.delete(handle);
    const held = this.held[m.group];
    const i = held.indexOf(m.seq);
    if (i >= 0) held.splice(i, 1);
    if (requeue) {
      this.returned[m.group].push(m.seq);
      this.returned[m.group].sort((a, b) => a - b);
    }
    if (held.length === 0) for (const w of [...this.waiters]) w();
  }

  async deleteMessages(handles: readonly string[]): Promise<void> {
    for (const h of handles) this.unlock(h, false);
  }

  async changeVisibility(handles: readonly string[], seconds: number): Promise<void> {
    if (seconds === 0) for (const h of handles) this.unlock(h, true);
  }

  async deadLetter(message: QueuedMessage, _info: DeadLetterInfo): Promise<undefined> {
    this.check.deadLettered += 1;
    this.unlock(message.receiptHandle, false);
    return undefined;
  }
}

/** Lease always granted, nothing persisted across runs but the pacer state, no duplicates. */
class MemoryState implements StatePort {
  pacer: PacerState | undefined;
  async acquireLease(): Promise<boolean> {
    return true;
  }
  async renewLease(): Promise<boolean> {
    return true;
  }
  async releaseLease(): Promise<void> {}
  async load(): Promise<{ pacer?: PacerState; controls: OperatorControls }> {
    return { ...(this.pacer ? { pacer: this.pacer } : {}), controls: { paused: false } };
  }
  async savePacer(_owner: string, pacer: PacerState): Promise<void> {
    this.pacer = pacer;
  }
  async wasDelivered(): Promise<boolean> {
    return false;
  }
  async markDelivered(): Promise<void> {}
}

/** The app over undici with the flow's own pool; records every attempt and checks per-group order. */
class RecordingDownstream implements DownstreamPort {
  private readonly agent;
  private readonly lastSeq = new Map<string, number>();

  constructor(
    maxInFlight: number,
    private readonly log: FlowLog,
    private readonly t0: number,
    private readonly check: OrderCheck,
  ) {
    this.agent = flowAgent(maxInFlight);
  }

  async post(req: DeliveryRequest, timeoutMs: number): Promise<DeliveryResult> {
    const { log, t0 } = this;
    const sent = Date.now();
    const i = logSend(log, t0, sent);
    let result: DeliveryResult;
    try {
      const res = await request(req.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: req.headers,
        body: req.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      const headers = flatHeaders(res.headers);
      result = { kind: 'response', status: res.statusCode, headers, snippet: '', rttMs: Date.now() - sent };
      logWaits(log, t0, headers, Date.now());
      if (res.statusCode >= 200 && res.statusCode < 300) this.checkOrder(req);
    } catch (e) {
      const name = e instanceof Error ? e.name : '';
      result =
        name === 'TimeoutError' || name === 'AbortError'
          ? { kind: 'timeout', rttMs: Date.now() - sent }
          : { kind: 'error', code: name || 'ERROR', message: String(e), rttMs: Date.now() - sent };
    }
    logAnswer(log, t0, i, result.kind === 'response' ? result.status : 0, result.rttMs);
    return result;
  }

  private checkOrder(req: DeliveryRequest): void {
    const id = req.headers['x-shopify-webhook-id'] ?? '';
    const m = /^g(\d+)-(\d+)$/.exec(id);
    if (!m) return;
    this.check.delivered += 1;
    const last = this.lastSeq.get(m[1]) ?? -1;
    if (Number(m[2]) < last) this.check.outOfOrder += 1;
    else this.lastSeq.set(m[1], Number(m[2]));
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

const realClock: Clock = {
  now: () => Date.now(),
  async sleep(ms, signal) {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      // Aborted early: the caller re-checks its state.
    }
  },
};

const noMetrics: MetricsPort = { add() {}, flush() {} };

/** Runs one Sluice flow — a real drainer run — against `url` until `endAt`. */
export async function runSluiceFlow(
  variant: SluiceVariant,
  scenario: Scenario,
  url: string,
  t0: number,
  endAt: number,
  log: FlowLog,
  check: OrderCheck = { delivered: 0, outOfOrder: 0, deadLettered: 0 },
): Promise<OrderCheck> {
  const { origin, pathname } = new URL(url);
  const lmax = variant.groups === 1 ? 1 : scenario.maxInFlight;
  const downstream = new RecordingDownstream(lmax, log, t0, check);
  const drainer: Drainer = createDrainer(
    {
      queue: new BacklogQueue(variant.groups, pathname, check),
      state: new MemoryState(),
      downstream,
      clock: realClock,
      metrics: noMetrics,
      // Every change of the delay window and its rule, as it happens (bench/pacing/events.ts).
      onWindowChange: ({ at, ...c }) => log.windowChanges.push({ t: at - t0, ...c }),
    },
    {
      owner: `bench-${variant.key}`,
      downstreamUrl: origin,
      secrets: [SECRET],
      pacer: { floorPerSecond: 1, ceilingPerSecond: 1_000, maxWindow: lmax },
      maxAttempts: 1_000,
      maxRetryMs: 600_000,
      downstreamTimeoutMs: CLIENT_TIMEOUT_MS,
      // The drainer stops taking new batches a second before stopAt and then works off what it holds, so
      // it runs a little past the measured span: its last measured second is not a shutdown artefact
      // (baselines send until endAt). Sends after endAt fall outside every phase and are not counted.
      stopAt: endAt + RUN_ON_MS,
      deadline: endAt + RUN_ON_MS + CLIENT_TIMEOUT_MS + 1_000,
      receiveWaitSeconds: 1,
      // Scenarios I and J: the app announces its service time of each request (`Server-Timing: app;dur=…`).
      ...(scenario.serverTiming ? { serviceTimeMetric: 'app' } : {}),
    },
  );
  const snap = setInterval(() => {
    const s = drainer.status();
    log.snapshots.push({ t: Date.now() - t0, rate: s.ratePerSecond, window: s.window });
  }, 250);
  try {
    await drainer.run();
  } finally {
    clearInterval(snap);
    await downstream.close();
  }
  return check;
}
