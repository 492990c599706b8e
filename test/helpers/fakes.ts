/**
 * In-memory ports for the drainer core: a simulated clock, an SQS FIFO model, the state table, a scripted
 * app and a metrics recorder. Used by unit tests and by benchmarks (no jest imports here).
 */
import type { AttributeValue, OutgoingMessage } from '../../core/contract';
import type { RetryMemoryPort, RetryRecord } from '../../core/drainer';
import type { PacerState } from '../../core/pacer';
import {
  type Clock,
  DeadLetterNotDeletedError,
  type DeadLetterReceipt,
  type DeadLetterRecord,
  type DeliveryRequest,
  type DeliveryResult,
  type DownstreamPort,
  type MetricsPort,
  type OperatorControls,
  type QueuedMessage,
  type QueuePort,
  type StatePort,
} from '../../core/ports';
import { type DeadLetterInfo, TABLE } from '../../core/resources';

// ---- clock -------------------------------------------------------------------------------------------

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fire: () => void;
}

/** Options of a simulated clock. */
export interface FakeClockOptions {
  /** Epoch ms the clock starts at. @default 1_700_000_000_000 */
  readonly start?: number;
  /**
   * Advance on its own: whenever everything else is waiting (no microtask left), jump to the earliest
   * pending sleep. Turns any code that waits only through this clock into a discrete-event simulation.
   * @default true
   */
  readonly auto?: boolean;
  /** Safety bound on the number of timers fired, so a runaway loop fails instead of hanging. @default 5_000_000 */
  readonly maxFires?: number;
}

/** A simulated clock: `sleep` resolves when simulated time reaches it, never by wall-clock time. */
export class FakeClock implements Clock {
  private t: number;
  private timers: Timer[] = [];
  private seq = 0;
  private scheduled = false;
  private readonly auto: boolean;
  private readonly maxFires: number;
  /** Timers fired so far. */
  fired = 0;
  /** Set when `maxFires` was reached; the clock then stops advancing. */
  exhausted = false;

  constructor(options: FakeClockOptions = {}) {
    this.t = options.start ?? 1_700_000_000_000;
    this.auto = options.auto ?? true;
    this.maxFires = options.maxFires ?? 5_000_000;
  }

  now(): number {
    return this.t;
  }

  /** Pending sleeps. */
  get pending(): number {
    return this.timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || !(ms > 0)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer: Timer = {
        at: this.t + ms,
        seq: this.seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.timers = this.timers.filter((x) => x !== timer);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.insert(timer);
      this.schedule();
    });
  }

  /** Moves time forward by `ms`, firing every sleep that ends on the way (for manual tests). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (let i = 0; i < this.maxFires; i++) {
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fire();
      await new Promise<void>((r) => setImmediate(r));
    }
    this.t = Math.max(this.t, end);
  }

  private insert(timer: Timer): void {
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > timer.at) i--;
    this.timers.splice(i, 0, timer);
  }

  private schedule(): void {
    if (!this.auto || this.scheduled || this.exhausted) return;
    this.scheduled = true;
    // setImmediate runs after every pending microtask: all promise chains have settled by then.
    setImmediate(() => this.step());
  }

  private step(): void {
    this.scheduled = false;
    const next = this.timers.shift();
    if (!next) return;
    if (++this.fired > this.maxFires) {
      this.exhausted = true;
      return;
    }
    this.t = Math.max(this.t, next.at);
    next.fire();
    if (this.timers.length > 0) this.schedule();
  }
}

// ---- queue -------------------------------------------------------------------------------------------

interface Stored {
  readonly messageId: string;
  readonly groupId: string;
  readonly dedupId: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly sentAt: number;
  receiveCount: number;
  receiptHandle?: string;
  invisibleUntil: number;
}

/** A message moved to the DLQ, by the drainer (with `info`) or by SQS redrive (without). */
export interface DeadLettered {
  readonly message: QueuedMessage;
  readonly info?: DeadLetterInfo;
}

export interface MemoryQueueOptions {
  readonly clock: Clock;
  /**
   * Most messages of one group returned by one receive. AWS returns several in order (up to 10); fauxqs
   * returns one. @default 10
   */
  readonly maxPerGroupPerReceive?: number;
  /** SQS redrive: a message received more often than this goes to the DLQ. @default 1000 (QUEUE.maxReceiveCount) */
  readonly maxReceiveCount?: number;
  /** Send deduplication window, ms. @default 300000 */
  readonly dedupWindowMs?: number;
}

/**
 * An SQS FIFO queue in memory: per-group order, group locking (no message of a group is returned while
 * another of it is received and undeleted), visibility timeouts, redrive, 5-minute send dedup and long
 * polling on the given clock. Stale receipt handles are counted in `staleHandles`, not thrown.
 */
export class MemoryQueue implements QueuePort {
  private readonly clock: Clock;
  private readonly perGroup: number;
  private readonly maxReceiveCount: number;
  private readonly dedupWindowMs: number;
  // Per group, in send order; Map order is the order groups first had a message.
  private readonly groups = new Map<string, Stored[]>();
  private readonly byReceipt = new Map<string, Stored>();
  /** Received and not deleted (their visibility may have run out since). */
  private readonly received = new Set<Stored>();
  private count = 0;
  private readonly dedup = new Map<string, { at: number; messageId: string }>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  /** Messages in the DLQ, in the order they got there. */
  readonly dlq: DeadLettered[] = [];
  /** Receipt handles that were no longer current when used. */
  staleHandles = 0;
  /** Calls made, by operation. */
  readonly calls = { receive: 0, deleteMessages: 0, changeVisibility: 0, deadLetter: 0 };
  /** The next this-many moves to the DLQ copy the message there and then fail to delete it. */
  deadLetterDeleteFailures = 0;
  /** Messages deleted after delivery (or as duplicates), by message id, in order. */
  readonly deleted: string[] = [];

  constructor(options: MemoryQueueOptions) {
    this.clock = options.clock;
    this.perGroup = options.maxPerGroupPerReceive ?? 10;
    this.maxReceiveCount = options.maxReceiveCount ?? 1000;
    this.dedupWindowMs = options.dedupWindowMs ?? 300_000;
  }

  /** SendMessage: returns the message id (the first one's, when deduplicated). */
  send(message: OutgoingMessage): string {
    const now = this.clock.now();
    const seen = this.dedup.get(message.dedupId);
    if (seen && now - seen.at < this.dedupWindowMs) return seen.messageId;
    const messageId = `m-${this.nextId++}`;
    this.dedup.set(message.dedupId, { at: now, messageId });
    const stored: Stored = {
      messageId,
      groupId: message.groupId,
      dedupId: message.dedupId,
      body: message.body,
      attributes: Object.fromEntries(
        Object.entries(message.attributes).map(([k, v]) => [k, { StringValue: v }]),
      ),
      sentAt: now,
      receiveCount: 0,
      invisibleUntil: 0,
    };
    const group = this.groups.get(message.groupId);
    if (group) group.push(stored);
    else this.groups.set(message.groupId, [stored]);
    this.count++;
    this.notify();
    return messageId;
  }

  /** Messages still in the queue (visible or not). */
  get size(): number {
    return this.count;
  }

  /** Messages received and not yet deleted whose visibility has not run out. */
  inFlight(): number {
    const now = this.clock.now();
    let n = 0;
    for (const m of this.received) if (m.invisibleUntil > now) n++;
    return n;
  }

  async receive(
    maxMessages: number,
    waitSeconds: number,
    visibilitySeconds: number,
    signal?: AbortSignal,
  ): Promise<QueuedMessage[]> {
    this.calls.receive++;
    const end = this.clock.now() + waitSeconds * 1000;
    for (let round = 0; round < 10_000; round++) {
      const got = this.take(maxMessages, visibilitySeconds);
      if (got.length > 0 || signal?.aborted) return got;
      const now = this.clock.now();
      if (now >= end) return [];
      // Wake on a send or a release, at the next visibility expiry, at the end of the wait, or on abort.
      const expiry = this.nextExpiry(now);
      const until = Math.min(end, expiry ?? end);
      const wake = new AbortController();
      const onAbort = (): void => wake.abort('stop');
      signal?.addEventListener('abort', onAbort, { once: true });
      const waiter = (): void => wake.abort('wake');
      this.waiters.add(waiter);
      await this.clock.sleep(until - now, wake.signal);
      this.waiters.delete(waiter);
      signal?.removeEventListener('abort', onAbort);
    }
    return [];
  }

  async deleteMessages(receiptHandles: readonly string[]): Promise<void> {
    this.calls.deleteMessages++;
    for (const handle of receiptHandles) {
      const m = this.byHandle(handle);
      if (!m) continue;
      this.remove(m);
      this.deleted.push(m.messageId);
    }
    this.notify();
  }

  async changeVisibility(receiptHandles: readonly string[], seconds: number): Promise<void> {
    this.calls.changeVisibility++;
    const now = this.clock.now();
    for (const handle of receiptHandles) {
      const m = this.byHandle(handle);
      if (m) m.invisibleUntil = now + seconds * 1000;
    }
    if (seconds === 0) this.notify();
  }

  async deadLetter(message: QueuedMessage, info: DeadLetterInfo): Promise<DeadLetterReceipt | undefined> {
    this.calls.deadLetter++;
    const m = this.byHandle(message.receiptHandle);
    if (!m) return undefined;
    if (this.deadLetterDeleteFailures > 0) {
      // As SqsQueue when SendMessage passes and the delete fails: the copy is in the DLQ, the message stays.
      this.deadLetterDeleteFailures--;
      this.dlq.push({ message, info });
      throw new DeadLetterNotDeletedError(message.messageId, undefined, new Error('delete failed'));
    }
    this.remove(m);
    this.dlq.push({ message, info });
    this.notify();
    return { dlqMessageId: `dlq-${message.messageId}`, sequenceNumber: String(this.dlq.length) };
  }

  private byHandle(handle: string): Stored | undefined {
    const m = this.byReceipt.get(handle);
    // An expired handle is stale too: SQS may already have handed the message to another consumer.
    if (m && m.receiptHandle === handle && m.invisibleUntil > this.clock.now()) return m;
    this.staleHandles++;
    return undefined;
  }

  private remove(m: Stored): void {
    const group = this.groups.get(m.groupId);
    if (group) {
      const i = group.indexOf(m);
      if (i >= 0) group.splice(i, 1);
      if (group.length === 0) this.groups.delete(m.groupId);
    }
    if (m.receiptHandle !== undefined) this.byReceipt.delete(m.receiptHandle);
    this.received.delete(m);
    this.count--;
  }

  private take(max: number, visibilitySeconds: number): QueuedMessage[] {
    const now = this.clock.now();
    const out: QueuedMessage[] = [];
    for (const group of this.groups.values()) {
      if (out.length >= max) break;
      // Received messages of a group are always a prefix of it: FIFO hands them out in order only.
      let locked = false;
      for (const m of group) {
        if (m.receiptHandle === undefined) break;
        if (m.invisibleUntil > now) {
          locked = true;
          break;
        }
      }
      if (locked) continue;
      let n = 0;
      for (const m of [...group]) {
        if (out.length >= max || n >= this.perGroup) break;
        m.receiveCount++;
        if (m.receiveCount > this.maxReceiveCount) {
          this.remove(m);
          this.dlq.push({ message: this.view(m) });
          continue;
        }
        if (m.receiptHandle !== undefined) this.byReceipt.delete(m.receiptHandle);
        m.receiptHandle = `${m.messageId}#${m.receiveCount}`;
        m.invisibleUntil = now + visibilitySeconds * 1000;
        this.byReceipt.set(m.receiptHandle, m);
        this.received.add(m);
        n++;
        out.push(this.view(m));
      }
    }
    return out;
  }

  private view(m: Stored): QueuedMessage {
    return {
      messageId: m.messageId,
      receiptHandle: m.receiptHandle ?? '',
      groupId: m.groupId,
      body: m.body,
      attributes: m.attributes,
      receiveCount: m.receiveCount,
      sentAt: m.sentAt,
    };
  }

  private nextExpiry(now: number): number | undefined {
    let at: number | undefined;
    for (const m of this.received) {
      if (m.invisibleUntil > now) at = at === undefined ? m.invisibleUntil : Math.min(at, m.invisibleUntil);
    }
    return at;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

// ---- state -------------------------------------------------------------------------------------------

/** The DynamoDB state item and delivered records, in memory, with the same conditional semantics. */
export class MemoryState implements StatePort {
  lease: { owner: string; expiresAt: number } | undefined;
  pacer: PacerState | undefined;
  controls: OperatorControls = { paused: false };
  /** Webhook id → record expiry (epoch ms). Expired records stay, as in the emulators, and read as absent. */
  readonly delivered = new Map<string, number>();
  /** Pacer saves, in order. */
  readonly saves: { owner: string; pacer: PacerState; at: number }[] = [];
  /** Dead-letter index records, in the order they were written. */
  readonly deadLetters: DeadLetterRecord[] = [];
  /** Operations to fail: name → how many of the next calls throw. */
  readonly failures: Partial<Record<keyof StatePort, number>> = {};
  /** Calls made so far, by operation (failed ones included). */
  readonly calls: Partial<Record<keyof StatePort, number>> = {};

  async acquireLease(owner: string, now: number, ttlMs: number): Promise<boolean> {
    this.maybeFail('acquireLease');
    if (this.lease && this.lease.owner !== owner && this.lease.expiresAt > now) return false;
    this.lease = { owner, expiresAt: now + ttlMs };
    return true;
  }

  async renewLease(owner: string, now: number, ttlMs: number): Promise<boolean> {
    this.maybeFail('renewLease');
    if (this.lease?.owner !== owner) return false;
    this.lease = { owner, expiresAt: now + ttlMs };
    return true;
  }

  async releaseLease(owner: string): Promise<void> {
    this.maybeFail('releaseLease');
    if (this.lease?.owner === owner) this.lease = undefined;
  }

  async load(): Promise<{ readonly pacer?: PacerState; readonly controls: OperatorControls }> {
    this.maybeFail('load');
    return this.pacer ? { pacer: this.pacer, controls: this.controls } : { controls: this.controls };
  }

  async savePacer(owner: string, pacer: PacerState, now: number): Promise<void> {
    this.maybeFail('savePacer');
    if (this.lease?.owner !== owner) throw new Error('ConditionalCheckFailed: lease not held');
    this.pacer = pacer;
    this.saves.push({ owner, pacer, at: now });
  }

  async wasDelivered(webhookId: string, now: number): Promise<boolean> {
    this.maybeFail('wasDelivered');
    const expires = this.delivered.get(webhookId);
    return expires !== undefined && expires > now;
  }

  async markDelivered(webhookId: string, now: number): Promise<void> {
    this.maybeFail('markDelivered');
    this.delivered.set(webhookId, now + TABLE.deliveredTtlSeconds * 1000);
  }

  async wasDeliveredMany(webhookIds: readonly string[], now: number): Promise<ReadonlySet<string>> {
    this.maybeFail('wasDeliveredMany');
    return new Set(webhookIds.filter((id) => (this.delivered.get(id) ?? 0) > now));
  }

  async markDeliveredMany(webhookIds: readonly string[], now: number): Promise<void> {
    this.maybeFail('markDeliveredMany');
    for (const id of webhookIds) this.delivered.set(id, now + TABLE.deliveredTtlSeconds * 1000);
  }

  async recordDeadLetter(record: DeadLetterRecord): Promise<void> {
    this.maybeFail('recordDeadLetter');
    this.deadLetters.push(record);
  }

  private maybeFail(op: keyof StatePort): void {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
    const n = this.failures[op] ?? 0;
    if (n > 0) {
      this.failures[op] = n - 1;
      throw new Error(`injected ${op} failure`);
    }
  }
}

/** The same state seen through the single-id calls only (a store without the batch forms). */
export function singleCallState(state: MemoryState): StatePort {
  return {
    acquireLease: (owner, now, ttlMs) => state.acquireLease(owner, now, ttlMs),
    renewLease: (owner, now, ttlMs) => state.renewLease(owner, now, ttlMs),
    releaseLease: (owner) => state.releaseLease(owner),
    load: () => state.load(),
    savePacer: (owner, pacer, now) => state.savePacer(owner, pacer, now),
    wasDelivered: (id, now) => state.wasDelivered(id, now),
    markDelivered: (id, now) => state.markDelivered(id, now),
  };
}

/** Retry progress across runs, in memory. */
export class MemoryRetries implements RetryMemoryPort {
  readonly records = new Map<string, RetryRecord>();

  async get(messageId: string): Promise<RetryRecord | undefined> {
    return this.records.get(messageId);
  }

  async put(messageId: string, record: RetryRecord): Promise<void> {
    this.records.set(messageId, record);
  }
}

// ---- downstream --------------------------------------------------------------------------------------

/** How the scripted app answers one request. */
export type AppAnswer =
  | {
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: string;
      /** Service time, ms. @default 10 */
      readonly rttMs?: number;
    }
  | { readonly timeout: true }
  | { readonly error: string; readonly rttMs?: number };

/** One request the app received. */
export interface AppRequest {
  readonly at: number;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** `x-shopify-webhook-id`, for convenience. */
  readonly webhookId: string;
}

/** Decides the answer to a request; `n` counts requests (1-based). */
export type AppScript = (request: AppRequest, n: number) => AppAnswer;

/** A downstream app driven by a script, on the simulated clock, recording every request it gets. */
export class FakeApp implements DownstreamPort {
  readonly requests: AppRequest[] = [];
  /** Answers in the order they were given (timeouts and errors have no status). */
  readonly answers: { readonly request: AppRequest; readonly at: number; readonly status?: number }[] = [];
  /** Requests in progress now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;

  constructor(
    private readonly clock: Clock,
    private readonly script: AppScript = () => ({ status: 200 }),
  ) {}

  async post(request: DeliveryRequest, timeoutMs: number): Promise<DeliveryResult> {
    const at = this.clock.now();
    const body = typeof request.body === 'string' ? new TextEncoder().encode(request.body) : request.body;
    const r: AppRequest = {
      at,
      url: request.url,
      headers: request.headers,
      body,
      webhookId: request.headers['x-shopify-webhook-id'] ?? '',
    };
    this.requests.push(r);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const answer = this.script(r, this.requests.length);
      if ('timeout' in answer) {
        await this.clock.sleep(timeoutMs);
        this.answers.push({ request: r, at: this.clock.now() });
        return { kind: 'timeout', rttMs: timeoutMs };
      }
      const rttMs = Math.min(answer.rttMs ?? 10, timeoutMs);
      await this.clock.sleep(rttMs);
      const timedOut = 'error' in answer || (answer.rttMs ?? 10) > timeoutMs;
      this.answers.push(
        timedOut
          ? { request: r, at: this.clock.now() }
          : { request: r, at: this.clock.now(), status: answer.status },
      );
      if ('error' in answer) return { kind: 'error', code: answer.error, message: answer.error, rttMs };
      if ((answer.rttMs ?? 10) > timeoutMs) return { kind: 'timeout', rttMs };
      return {
        kind: 'response',
        status: answer.status,
        headers: answer.headers ?? {},
        snippet: (answer.body ?? '').slice(0, 1000),
        rttMs,
      };
    } finally {
      this.inFlight--;
    }
  }
}

// ---- metrics -----------------------------------------------------------------------------------------

export interface MetricEntry {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly dimensions?: Readonly<Record<string, string>>;
}

/** Records every metric; `sum` answers "how many Delivered", optionally for one dimension value. */
export class RecordingMetrics implements MetricsPort {
  readonly entries: MetricEntry[] = [];
  flushes = 0;

  add(
    name: string,
    unit: 'Count' | 'Milliseconds' | 'Count/Second',
    value: number,
    dimensions?: Readonly<Record<string, string>>,
  ): void {
    this.entries.push(dimensions ? { name, unit, value, dimensions } : { name, unit, value });
  }

  flush(): void {
    this.flushes++;
  }

  sum(name: string, dimensions?: Readonly<Record<string, string>>): number {
    return this.entries
      .filter(
        (e) =>
          e.name === name &&
          (!dimensions || Object.entries(dimensions).every(([k, v]) => e.dimensions?.[k] === v)),
      )
      .reduce((s, e) => s + e.value, 0);
  }
}
