/** Sluice, the one top-level construct: queue, secret, claim-check bucket, ingress (and the delivery half). */
import { Annotations, Stack } from 'aws-cdk-lib';
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { SluiceConfig } from '../core/config';
import { BodyBucket } from './body-bucket';
import { downstreamWarnings } from './downstream-url';
import { Drainer } from './drainer';
import { Ingress } from './ingress';
import { SluiceAlarms, SluiceDashboard } from './observability';
import { sluiceOutput } from './outputs';
import { WebhookQueue } from './queue';
import { ShopifySecret } from './secret';

export interface SluiceProps {
  /** The validated configuration (`parseConfig`). */
  readonly config: SluiceConfig;
  /** Stage throttling of the HTTP API. @default Ingress DEFAULT_THROTTLE (5000/s, burst 5000) */
  readonly throttle?: ThrottleSettings;
  /** Retention of every log group Sluice creates. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Add the stack outputs (`core/resources` OUTPUTS keys). One Sluice per stack when true. @default true */
  readonly outputs?: boolean;
}

/**
 * A webhook buffer for a Shopify app. The ingress half lives here; the delivery half (drainer, table,
 * dashboard) is composed below from the public members, which are its seam.
 */
export class Sluice extends Construct {
  readonly config: SluiceConfig;
  /** The `service` dimension of every Sluice metric. */
  readonly serviceName: string;
  /** The queue pair with its `metricXxx()` methods. */
  readonly queues: WebhookQueue;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly bodyBucket: IBucket;
  readonly secret: ISecret;
  readonly ingress: Ingress;
  /** The delivery half: drainer function, schedule and state table. */
  readonly drainer: Drainer;
  /** The CloudWatch dashboard (its console URL is the `DashboardUrl` output). */
  readonly dashboard: SluiceDashboard;
  readonly alarms: SluiceAlarms;
  /** Subscribe Shopify to this URL + the app's webhook path. */
  readonly webhookUrl: string;
  /** This URL + the app's path for the compliance topics (401 on forgeries). */
  readonly verifiedUrl: string;

  constructor(scope: Construct, id: string, props: SluiceProps) {
    super(scope, id);
    this.config = props.config;
    this.serviceName = Stack.of(this).stackName;
    for (const warning of downstreamWarnings(props.config.downstreamUrl)) {
      Annotations.of(this).addWarningV2('sluice:downstream-url', warning);
    }
    this.queues = new WebhookQueue(this, 'Queue');
    this.queue = this.queues.queue;
    this.deadLetterQueue = this.queues.deadLetterQueue;
    const secret = new ShopifySecret(this, 'ShopifySecret', {
      ...(props.config.secretName ? { secretName: props.config.secretName } : {}),
    });
    this.secret = secret.secret;
    this.bodyBucket = new BodyBucket(this, 'Bodies').bucket;
    this.ingress = new Ingress(this, 'Ingress', {
      queue: this.queue,
      bodyBucket: this.bodyBucket,
      secret: this.secret,
      config: props.config,
      serviceName: this.serviceName,
      ...(props.throttle ? { throttle: props.throttle } : {}),
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
    });
    this.webhookUrl = this.ingress.url;
    this.verifiedUrl = this.ingress.verifiedUrl;

    // ── Delivery half (drainer, state table, dashboard): compose here from the members above. ──
    this.drainer = new Drainer(this, 'Drainer', {
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      secret: this.secret,
      bodyBucket: this.bodyBucket,
      config: props.config,
      serviceName: this.serviceName,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
    });
    const sources = { queue: this.queues, ingress: this.ingress, drainer: this.drainer };
    const { oldestAgeAlarmMinutes, signatureFailureAlarmCount, alarmEmail, alarmTopicArn } = props.config;
    this.alarms = new SluiceAlarms(this, 'Alarms', {
      ...sources,
      oldestAgeAlarmMinutes,
      signatureFailureAlarmCount,
      ...(alarmEmail ? { alarmEmail } : {}),
      ...(alarmTopicArn ? { alarmTopicArn } : {}),
    });
    this.dashboard = new SluiceDashboard(this, 'Dashboard', {
      ...sources,
      alarms: this.alarms.all,
      oldestAgeAlarmMinutes,
    });

    if (props.outputs ?? true) {
      sluiceOutput(
        this,
        'webhookUrl',
        this.webhookUrl,
        'Shopify webhook subscriptions: this URL + the app path',
      );
      sluiceOutput(
        this,
        'verifiedUrl',
        this.verifiedUrl,
        'Compliance topics: this URL + the app path (401 on forgery)',
      );
      sluiceOutput(this, 'queueName', this.queue.queueName, 'Webhook queue (FIFO)');
      sluiceOutput(this, 'queueUrl', this.queue.queueUrl, 'Webhook queue URL');
      sluiceOutput(this, 'deadLetterQueueName', this.deadLetterQueue.queueName, 'Dead-letter queue (FIFO)');
      sluiceOutput(this, 'deadLetterQueueUrl', this.deadLetterQueue.queueUrl, 'Dead-letter queue URL');
      sluiceOutput(
        this,
        'secretName',
        this.secret.secretName,
        secret.created
          ? 'Shopify secret: set it with aws secretsmanager put-secret-value (see README)'
          : 'Shopify secret (imported)',
      );
      sluiceOutput(
        this,
        'tableName',
        this.drainer.table.tableName,
        'Drainer state table (lease, pacing, controls)',
      );
      sluiceOutput(
        this,
        'drainerFunctionName',
        this.drainer.drainerFunction.function.functionName,
        'Drainer function',
      );
      sluiceOutput(this, 'dashboardUrl', this.dashboard.dashboardUrl, 'CloudWatch dashboard');
    }
  }
}
