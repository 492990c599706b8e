/**
 * Names and settings shared by the stack, the Lambda functions, local mode and the operations CLI, so a
 * queue created by `npm start` is the queue `cdk deploy` creates, and every reader agrees on every name.
 */
import { MAX_MESSAGE_BYTES, SQS_MAX_MESSAGE_BYTES } from './contract';

/** The webhook queue and its DLQ (both FIFO). */
export const QUEUE = {
  /** 14 days: the longest SQS keeps a message; a multi-day app outage loses nothing. */
  retentionSeconds: 14 * 24 * 3600,
  /** The webhook queue's cap: SQS's 1 MiB less the room a dead-lettered copy needs for its reason. */
  maxMessageBytes: MAX_MESSAGE_BYTES,
  /** The DLQ's cap: SQS's maximum (1 MiB). */
  deadLetterMaxMessageBytes: SQS_MAX_MESSAGE_BYTES,
  /** Default invisibility after a receive; the drainer sets and extends its own. */
  visibilityTimeoutSeconds: 60,
  /**
   * The drainer retries in place and moves failures to the DLQ itself, so SQS's redrive only catches a
   * message that crashes every run. High, because each drainer run that releases a held message at its
   * time budget adds one receive.
   */
  maxReceiveCount: 1000,
} as const;

/** The DynamoDB table: one item for the drainer's state, one per delivered webhook id. */
export const TABLE = {
  partitionKey: 'pk',
  /** TTL attribute, epoch seconds. Emulators never expire items, so readers treat `expiresAt < now` as absent. */
  ttlAttribute: 'expiresAt',
  /** The single item holding the lease, the pacer state and the operator controls. */
  stateKey: 'drainer#state',
  /** Prefix of the per-webhook delivered records (`delivered#<webhook id>`). */
  deliveredPrefix: 'delivered#',
  /**
   * How long a delivered webhook id is remembered: as long as a twin of it can still be waiting in the queue.
   * Twins reach the queue up to ~4 h apart (Shopify's retries; SQS deduplicates only 5 minutes), and a backlog
   * holds a message for up to the queue's retention, so a twin can come up for delivery days after the first
   * copy was delivered (2 M webhooks at 5/s take 4.6 days). Retention plus a day covers both.
   */
  deliveredTtlSeconds: 15 * 24 * 3600,
  /**
   * Prefix of the dead-letter index records (`dead#<queue message id>`), one per webhook the drainer moved to
   * the DLQ, kept as long as the DLQ keeps the message (QUEUE.retentionSeconds). The DLQ stays the source of
   * truth; the index lets `sluice dlq list` see past the head of each FIFO group.
   */
  deadLetterPrefix: 'dead#',
  /**
   * Sparse global secondary index over the dead-letter records only (the table has a partition key alone, so
   * listing them otherwise means scanning every delivered record): one partition, sorted by failure time.
   */
  deadLetterIndex: 'dead-letters',
  /** Partition key of that index: the same value on every dead-letter record, absent from every other item. */
  deadLetterIndexPartition: 'deadIndex',
  /** Sort key of that index: failure time (zero-padded epoch ms), then the DLQ sequence number. */
  deadLetterIndexSort: 'deadOrder',
} as const;

/** Attribute the drainer adds when it moves a message to the DLQ: JSON of `DeadLetterInfo`. */
export const FAILURE_ATTRIBUTE = 'Failure';

/** Every reason a message is in the DLQ, in the order the CLI and the dashboards list them. */
export const DEAD_LETTER_REASONS = [
  'signature', // the body does not match its signature under any configured secret
  'rejected', // the app answered a permanent 4xx (400, 401, 404, 410 …)
  'exhausted', // still failing after maxAttempts or maxRetryMinutes
  'contract', // the queued message cannot be read (attribute missing or malformed)
  'body-missing', // the claim-checked body is gone from S3, or could not be read for 30 minutes
] as const;

/** Why a message is in the DLQ. Stable codes: the CLI filters and the metrics dimension on them. */
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** The content of the `Failure` attribute of a dead-lettered message. */
export interface DeadLetterInfo {
  readonly reason: DeadLetterReason;
  /** The app's HTTP status, when it answered. */
  readonly status?: number;
  /** First bytes of the app's answer or the error text. */
  readonly detail?: string;
  readonly attempts: number;
  /** Epoch ms. */
  readonly failedAt: number;
  /** The SQS message id in the main queue. */
  readonly messageId: string;
}

/** CloudWatch metrics the functions emit (EMF) and the dashboard and alarms read. */
export const METRICS = {
  namespace: 'Sluice',
  /** Dimension on every metric: the stack's service name. */
  serviceDimension: 'service',
  delivered: 'Delivered',
  retried: 'Retried',
  /** Dimension `Reason` = DeadLetterReason. */
  deadLettered: 'DeadLettered',
  duplicates: 'Duplicates',
  signatureFailures: 'SignatureFailures',
  /** Milliseconds, one sample per response. */
  downstreamLatency: 'DownstreamLatency',
  /** Dimension `StatusClass` = 2xx | 3xx | 4xx | 429 | 5xx | timeout | error. */
  responses: 'Responses',
  pacingRate: 'PacingRate',
  pacingWindow: 'PacingWindow',
  /** Milliseconds spent waiting out Retry-After or backoff. */
  backoffTime: 'BackoffTime',
  /** 1 per drainer run that started, and per minute a busy run went on (the schedule's heartbeat). */
  drainerRuns: 'DrainerRuns',
  /** Webhooks accepted by the verify function. */
  verifiedAccepted: 'VerifiedAccepted',
  /** Bodies too large for the queue, stored in S3 (claim check). */
  claimChecked: 'ClaimChecked',
  /** Dead letters whose index record (for `sluice dlq list`) could not be written; the dead letter itself is safe. */
  deadLetterIndexFailures: 'DeadLetterIndexFailures',
} as const;

/** Paths of the two public routes. */
export const ROUTES = {
  /** Prefix of the verified route; stripped before forwarding. */
  verifiedPrefix: '/verified',
} as const;

/** Headers Sluice adds to each delivery, besides the webhook's own. */
export const SLUICE_HEADERS = {
  attempt: 'x-sluice-attempt',
  receivedAt: 'x-sluice-received-at',
} as const;

/** CloudFormation output keys of the stack; the operations CLI finds the stack's resources by them. */
export const OUTPUTS = {
  webhookUrl: 'WebhookUrl',
  verifiedUrl: 'VerifiedUrl',
  queueName: 'QueueName',
  queueUrl: 'QueueUrl',
  deadLetterQueueName: 'DeadLetterQueueName',
  deadLetterQueueUrl: 'DeadLetterQueueUrl',
  secretName: 'SecretName',
  tableName: 'TableName',
  drainerFunctionName: 'DrainerFunctionName',
  dashboardUrl: 'DashboardUrl',
} as const;

/**
 * Where a running `npm start` writes its endpoints and resource names (JSON of `LocalEndpoints`), so that
 * `sluice --local …` and the AWS CLI can reach the emulators.
 */
export const LOCAL_STATE_FILE = '.local/sluice.json';

export interface LocalEndpoints {
  readonly apiUrl: string;
  readonly sqsEndpoint: string;
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  readonly region: string;
  readonly queueUrl: string;
  readonly dlqUrl: string;
  readonly tableName: string;
  readonly bucketName: string;
  /** Process id of the local mode that wrote the file. */
  readonly pid: number;
}
