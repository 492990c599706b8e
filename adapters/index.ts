/**
 * The drainer's real adapters, composed in one place so the Lambda handler and local mode wire the core
 * identically: only the SDK clients (AWS or the emulators) and the metrics sink differ.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { RetryMemoryPort } from '../core/drainer';
import type { BodyStorePort, Clock, DownstreamPort, MetricsPort, QueuePort, StatePort } from '../core/ports';
import { systemClock } from './clock';
import { DynamoRetries, DynamoState } from './dynamo-state';
import { HttpDownstream } from './http-downstream';
import { S3Bodies } from './s3-bodies';
import { SqsQueue } from './sqs-queue';

export { sleep, systemClock } from './clock';
export {
  ControlsError,
  type DrainerStateView,
  DynamoRetries,
  DynamoState,
  LeaseLostError,
  RETRY_PREFIX,
  readDrainerState,
  StateBatchError,
  setControls,
} from './dynamo-state';
export { HttpDownstream } from './http-downstream';
export { type Counter, CountingMetrics, EmfMetrics } from './metrics';
export { S3Bodies } from './s3-bodies';
export { DeadLetterError, QueueBatchError, SqsQueue } from './sqs-queue';

/**
 * Settings for the SDK clients the drainer's adapters call many times a second. `cacheMiddleware` builds
 * each command's middleware chain once per client instead of on every call (measured: ~15 % of the CPU of
 * a DynamoDB call); the adapters never change a client's middleware stack or pass per-call options, which
 * is what that cache requires.
 */
export const DRAINER_SDK_CLIENT_CONFIG = { cacheMiddleware: true } as const;

export interface DrainerAdapterOptions {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  /** Needed only with a claim-check bucket. */
  readonly s3?: S3Client;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly tableName: string;
  /** The claim-check bucket; without it a claim-checked message goes to the DLQ as `body-missing`. */
  readonly bucketName?: string;
  readonly metrics: MetricsPort;
  /** @default the system clock */
  readonly clock?: Clock;
}

/**
 * The ports of `createDrainer`, plus `close()`: closes the HTTP pool and waits for long polls cut short by
 * an abort to hand back what they received (at most one receive wait).
 */
export interface DrainerAdapters {
  readonly queue: QueuePort;
  readonly state: StatePort;
  readonly downstream: DownstreamPort;
  readonly bodies?: BodyStorePort;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly retries: RetryMemoryPort;
  /** Waits for long polls abandoned by an abort to hand back what they received (the clients stay open). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the drainer's dependencies over AWS SDK clients (real AWS or the local emulators). */
export function buildDrainerDeps(options: DrainerAdapterOptions): DrainerAdapters {
  const downstream = new HttpDownstream();
  const queue = new SqsQueue({
    client: options.sqs,
    queueUrl: options.queueUrl,
    deadLetterQueueUrl: options.dlqUrl,
  });
  const bodies =
    options.bucketName && options.s3
      ? new S3Bodies({ client: options.s3, bucketName: options.bucketName })
      : undefined;
  return {
    queue,
    state: new DynamoState({ client: options.dynamo, tableName: options.tableName }),
    downstream,
    ...(bodies ? { bodies } : {}),
    clock: options.clock ?? systemClock,
    metrics: options.metrics,
    retries: new DynamoRetries({ client: options.dynamo, tableName: options.tableName }),
    settle: () => queue.settle(),
    close: async () => {
      await Promise.all([downstream.close(), queue.settle()]);
    },
  };
}
