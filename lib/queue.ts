/** The webhook queue: SQS FIFO in high-throughput mode with a FIFO dead-letter queue (DESIGN §2). */
import { Duration } from 'aws-cdk-lib';
import type { Metric, MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import {
  DeduplicationScope,
  FifoThroughputLimit,
  type IQueue,
  Queue,
  QueueEncryption,
  type QueueProps,
} from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { QUEUE } from '../core/resources';

export interface WebhookQueueProps {
  /** Receives before SQS itself dead-letters a message (the drainer dead-letters failures on its own). @default QUEUE.maxReceiveCount (1000) */
  readonly maxReceiveCount?: number;
  /** How long a webhook may wait in the queue. @default 14 days (the SQS maximum) */
  readonly retentionPeriod?: Duration;
}

/** A FIFO queue and its FIFO DLQ, encrypted (SSE-SQS), TLS-only, 1 MiB messages, high-throughput mode. */
export class WebhookQueue extends Construct {
  /** Where webhooks wait for the drainer. */
  readonly queue: Queue;
  /** Where the drainer (with a reason) or SQS's redrive puts webhooks that cannot be delivered. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WebhookQueueProps = {}) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? QUEUE.maxReceiveCount;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(
        `WebhookQueue: maxReceiveCount = ${maxReceiveCount}; allowed: an integer from 1 to 1000.`,
      );
    }
    const common: QueueProps = {
      fifo: true,
      // High-throughput FIFO: the limit applies per message group, not per queue (research/aws-facts.md §4).
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? Duration.seconds(QUEUE.retentionSeconds),
    };
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...common,
      maxMessageSizeBytes: QUEUE.deadLetterMaxMessageBytes,
    });
    this.queue = new Queue(this, 'Queue', {
      ...common,
      // Under the DLQ's: every message accepted here can be dead-lettered with its reason.
      maxMessageSizeBytes: QUEUE.maxMessageBytes,
      visibilityTimeout: Duration.seconds(QUEUE.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
  }

  /** Webhooks waiting (visible). @default Maximum over 1 minute */
  metricQueueDepth(options?: MetricOptions): Metric {
    return this.queue.metricApproximateNumberOfMessagesVisible(perMinuteMax(options));
  }

  /** Webhooks the drainer holds: received, not yet delivered or dead-lettered. @default Maximum over 1 minute */
  metricInFlight(options?: MetricOptions): Metric {
    return this.queue.metricApproximateNumberOfMessagesNotVisible(perMinuteMax(options));
  }

  /** Age of the oldest webhook in the queue, seconds. @default Maximum over 1 minute */
  metricOldestAge(options?: MetricOptions): Metric {
    return this.queue.metricApproximateAgeOfOldestMessage(perMinuteMax(options));
  }

  /** Webhooks in the dead-letter queue. @default Maximum over 1 minute */
  metricDlqDepth(options?: MetricOptions): Metric {
    return this.deadLetterQueue.metricApproximateNumberOfMessagesVisible(perMinuteMax(options));
  }
}

const perMinuteMax = (options?: MetricOptions): MetricOptions => ({
  period: Duration.minutes(1),
  statistic: 'Maximum',
  ...options,
});

/** Narrow view for consumers that only send or receive. */
export type { IQueue };
