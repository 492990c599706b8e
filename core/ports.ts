/**
 * The drainer core's view of the outside world. The core imports no AWS SDK: Lambda and local mode plug
 * the same SQS/DynamoDB/S3/HTTP adapters in here, tests and benchmarks may plug in-memory ones.
 */
import type { AttributeValue } from './contract';
import type { PacerState } from './pacer';
import type { DeadLetterInfo } from './resources';

/** A message as received from the webhook queue. */
export interface QueuedMessage {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly groupId: string;
  readonly body: string | undefined;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** SQS ApproximateReceiveCount. */
  readonly receiveCount: number;
  /** SQS SentTimestamp, epoch ms. */
  readonly sentAt: number;
}

export interface QueuePort {
  /** Long-polls for up to `maxMessages` (≤ 10); returns [] when `signal` aborts or nothing arrives. */
  receive(
    maxMessages: number,
    waitSeconds: number,
    visibilitySeconds: number,
    signal?: AbortSignal,
  ): Promise<QueuedMessage[]>;
  /** Deletes delivered messages (batched by the adapter). */
  deleteMessages(receiptHandles: readonly string[]): Promise<void>;
  /** Sets the remaining invisibility of held messages; 0 hands them back to the queue. */
  changeVisibility(receiptHandles: readonly string[], seconds: number): Promise<void>;
  /**
   * Moves a message to the DLQ with the failure attached, then deletes it from the queue. Resolves with where
   * it landed when the store says so (SQS: the DLQ message id and sequence number), else with nothing. Throws
   * `DeadLetterNotDeletedError` when the copy landed but the delete failed: only the delete is left to retry.
   */
  deadLetter(message: QueuedMessage, info: DeadLetterInfo): Promise<DeadLetterReceipt | undefined>;
}

/** The DLQ holds the message's copy, but the message is still in the queue: retry the delete, not the move. */
export class DeadLetterNotDeletedError extends Error {
  readonly code = 'dead-letter-not-deleted';
  constructor(
    readonly messageId: string,
    readonly receipt: DeadLetterReceipt | undefined,
    readonly cause: unknown,
  ) {
    super(
      `message ${messageId} is in the DLQ but could not be deleted from the queue: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'DeadLetterNotDeletedError';
  }
}

/** Where a dead-lettered message landed in the DLQ. */
export interface DeadLetterReceipt {
  readonly dlqMessageId?: string;
  /** SQS FIFO sequence number: grows within a message group, so it orders failures of the same millisecond. */
  readonly sequenceNumber?: string;
}

/** What the dead-letter index keeps of one dead letter: what `sluice dlq list` shows without the DLQ. */
export interface DeadLetterRecord extends DeadLetterInfo, DeadLetterReceipt {
  readonly groupId: string;
  readonly topic?: string;
  readonly shop?: string;
  readonly webhookId?: string;
  /** The webhook's original path and query. */
  readonly target?: string;
}

/** What an operator set (CLI `pause`, `rate --floor/--ceiling`); absent values leave the config in force. */
export interface OperatorControls {
  readonly paused: boolean;
  readonly floorPerSecond?: number;
  readonly ceilingPerSecond?: number;
}

export interface StatePort {
  /** Takes the single-drainer lease if it is free or expired. False: another drainer holds it. */
  acquireLease(owner: string, now: number, ttlMs: number): Promise<boolean>;
  /** Extends the lease. False: it was lost (expired and taken), and the caller must stop. */
  renewLease(owner: string, now: number, ttlMs: number): Promise<boolean>;
  releaseLease(owner: string): Promise<void>;
  /** The persisted pacer state (absent on a first run) and the operator controls. */
  load(): Promise<{ readonly pacer?: PacerState; readonly controls: OperatorControls }>;
  /** Persists the pacer state; only while `owner` holds the lease. */
  savePacer(owner: string, pacer: PacerState, now: number): Promise<void>;
  /** True when this webhook id was delivered within the dedup window (expired records count as absent). */
  wasDelivered(webhookId: string, now: number): Promise<boolean>;
  /** Records a delivered webhook id; durable once it resolves. */
  markDelivered(webhookId: string, now: number): Promise<void>;
  /**
   * The ids among `webhookIds` delivered within the dedup window, in one round trip where the store allows.
   * Rejects rather than answer for an id it could not read. Optional: without it the core asks per id.
   */
  wasDeliveredMany?(webhookIds: readonly string[], now: number): Promise<ReadonlySet<string>>;
  /**
   * Records delivered ids together; resolves only once every record is durable (the core deletes the
   * messages after that), else rejects, and the core calls again. Optional: without it the core marks per id.
   */
  markDeliveredMany?(webhookIds: readonly string[], now: number): Promise<void>;
  /**
   * Indexes a message the core has just moved to the DLQ (`sluice dlq list` reads the index). Best effort:
   * the DLQ message is the source of truth, and the core only logs and counts a failure here, without
   * waiting for it. Optional: a store without it (in-memory ones) indexes nothing.
   */
  recordDeadLetter?(record: DeadLetterRecord): Promise<void>;
}

/** One delivery to the app. */
export interface DeliveryRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

export type DeliveryResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      /** Response headers, names lower-cased. */
      readonly headers: Readonly<Record<string, string>>;
      /** The first bytes of the response body, for the DLQ. */
      readonly snippet: string;
      readonly rttMs: number;
    }
  | { readonly kind: 'timeout'; readonly rttMs: number }
  | { readonly kind: 'error'; readonly code: string; readonly message: string; readonly rttMs: number };

export interface DownstreamPort {
  post(request: DeliveryRequest, timeoutMs: number): Promise<DeliveryResult>;
}

/** Bodies stored by the verify function when they did not fit in a message (claim check). */
export interface BodyStorePort {
  /** The stored bytes, or undefined when the object is gone. */
  get(key: string): Promise<Uint8Array | undefined>;
}

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Metrics sink (Powertools EMF in Lambda, counters in local mode). Names are `METRICS` values. */
export interface MetricsPort {
  add(
    name: string,
    unit: 'Count' | 'Milliseconds' | 'Count/Second',
    value: number,
    dimensions?: Readonly<Record<string, string>>,
  ): void;
  flush(): void;
}
