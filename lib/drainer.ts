/** The delivery half's infrastructure: the drainer function, its schedule, its state table and its grants. */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { MathExpression, Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configToEnv, type SluiceConfig } from '../core/config';
import { DEAD_LETTER_REASONS, type DeadLetterReason, METRICS, TABLE } from '../core/resources';
import { SluiceFunction } from './function';

/** Every dead-letter reason, for the all-reasons sum (CloudWatch alarms cannot use SEARCH). */
const REASONS: readonly DeadLetterReason[] = DEAD_LETTER_REASONS;

/** A resolved ARN as cdk-nag prints it in finding ids: `<Logical.Arn>`, `<AWS::Partition>`, literal text. */
function nagResource(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return String(value);
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') return `<${v.Ref}>`;
  const getAtt = v['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
  const join = v['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1])) {
    return (join[1] as unknown[]).map(nagResource).join(String(join[0]));
  }
  return JSON.stringify(value);
}

/** Prefix under which the verify function stores claim-checked bodies (`core/verify` claimCheckKey). */
const BODIES_PREFIX = 'bodies/';

export interface DrainerProps {
  /** The webhook queue (FIFO) the drainer receives from. */
  readonly queue: IQueue;
  /** The FIFO DLQ the drainer moves permanent failures to. */
  readonly deadLetterQueue: IQueue;
  /** The Shopify secret(s) signatures are verified with. */
  readonly secret: ISecret;
  /** The validated configuration; reaches the function as `configToEnv` variables. */
  readonly config: SluiceConfig;
  /** The claim-check bucket of the verify function. @default none (claim-checked messages go to the DLQ) */
  readonly bodyBucket?: IBucket;
  /** The `service` dimension of the drainer's metrics. @default the stack name */
  readonly serviceName?: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** More memory is more CPU for signature checks and HTTP. @default 512 */
  readonly memorySize?: number;
  /**
   * What happens to the state table on stack deletion. Its content is rebuilt by the next run (the pacer
   * relearns; delivered records only matter while a twin can wait in the queue), so it is not kept by default.
   * @default RemovalPolicy.DESTROY
   */
  readonly tableRemovalPolicy?: RemovalPolicy;
}

/**
 * The drainer: a Lambda function with reserved concurrency 1 that a once-a-minute schedule (re)starts, a
 * DynamoDB table for its lease, pacer state, operator controls and delivered-webhook records, and a role that
 * can do exactly what the drainer does. Each run ends before the next tick (see `lambda/drainer.ts` budgetOf),
 * so the schedule never meets a busy function in normal operation; a run delivering through a backlog goes on a
 * minute at a time (up to the 15-minute timeout), and the ticks meanwhile are throttled and dropped.
 */
export class Drainer extends Construct {
  readonly table: Table;
  readonly drainerFunction: SluiceFunction;
  readonly schedule: Rule;
  /** The `service` dimension value of this drainer's metrics. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: DrainerProps) {
    super(scope, id);
    this.serviceName = props.serviceName ?? Stack.of(this).stackName;

    this.table = new Table(this, 'State', {
      partitionKey: { name: TABLE.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE.ttlAttribute,
      removalPolicy: props.tableRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    // Sparse: only the dead-letter records carry its keys, so `sluice dlq list` queries them, oldest first,
    // without scanning the delivered records. Adding it to an existing table is an in-place update.
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE.deadLetterIndex,
      partitionKey: { name: TABLE.deadLetterIndexPartition, type: AttributeType.STRING },
      sortKey: { name: TABLE.deadLetterIndexSort, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.drainerFunction = new SluiceFunction(this, 'Drainer', {
      entry: 'lambda/drainer.ts',
      description: 'Sluice drainer: paced, ordered delivery of queued webhooks to the app',
      memorySize: props.memorySize ?? 512,
      // Runs end 3 s before a minute tick (lambda/drainer.ts budgetOf): the next one, or while delivering through
      // a backlog a later one, up to this timeout.
      timeout: Duration.minutes(15),
      // With the lease, this makes the drainer a singleton: FIFO order and one pacer for the whole app.
      reservedConcurrentExecutions: 1,
      ...(props.logRetention ? { logRetention: props.logRetention } : {}),
      environment: {
        ...configToEnv(props.config),
        QUEUE_URL: props.queue.queueUrl,
        DLQ_URL: props.deadLetterQueue.queueUrl,
        TABLE_NAME: this.table.tableName,
        SECRET_ARN: props.secret.secretArn,
        ...(props.bodyBucket ? { BUCKET_NAME: props.bodyBucket.bucketName } : {}),
        POWERTOOLS_SERVICE_NAME: this.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
      },
    });
    const fn = this.drainerFunction.function;
    // A failed run is not worth retrying: the next tick starts a fresh one within a minute.
    fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.schedule = new Rule(this, 'Schedule', {
      description: 'Starts the Sluice drainer every minute (a run that is still going holds the lease)',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(fn, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    this.grant(props);
  }

  /** Exactly the calls the adapters make (adapters/sqs-queue, dynamo-state, s3-bodies, lambda/shared/secrets). */
  private grant(props: DrainerProps): void {
    const role = this.drainerFunction.role;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReceiveAndSettleWebhooks',
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
        resources: [props.queue.queueArn],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DeadLetterWebhooks',
        actions: ['sqs:SendMessage'],
        resources: [props.deadLetterQueue.queueArn],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'DrainerState',
        actions: [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:BatchGetItem',
          'dynamodb:BatchWriteItem',
        ],
        resources: [this.table.tableArn],
      }),
    );
    const secretArn = props.secret.secretFullArn ?? `${props.secret.secretArn}-??????`;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ReadShopifySecret',
        actions: ['secretsmanager:GetSecretValue'],
        resources: [secretArn],
      }),
    );
    // Customer-managed keys, when a user brings them; SSE-SQS and the default secret key need no grant.
    props.queue.encryptionMasterKey?.grantDecrypt(role);
    props.deadLetterQueue.encryptionMasterKey?.grantEncryptDecrypt(role);
    props.secret.encryptionKey?.grantDecrypt(role);

    if (props.bodyBucket) {
      const objects = props.bodyBucket.arnForObjects(`${BODIES_PREFIX}*`);
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadClaimCheckedBodies',
          actions: ['s3:GetObject'],
          resources: [objects],
        }),
      );
      // Without ListBucket, S3 answers a key that is gone (expired, or redriven after its 28 days) with 403
      // AccessDenied instead of 404 NoSuchKey: the drainer would retry it as a fault instead of dead-lettering
      // it as `body-missing` at once. Not narrowed by an `s3:prefix` condition: a GetObject request carries no
      // prefix, so such a condition could leave S3 answering 403 after all. The bucket holds only the bodies
      // this role may read anyway.
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'TellMissingClaimCheckedBodies',
          actions: ['s3:ListBucket'],
          resources: [props.bodyBucket.bucketArn],
        }),
      );
      props.bodyBucket.encryptionKey?.grantDecrypt(role);
      this.acknowledgeWildcard(
        objects,
        `The drainer reads claim-checked bodies under ${BODIES_PREFIX} of the body bucket: one object per large webhook, its key known only at run time.`,
      );
    }
    if (!props.secret.secretFullArn) {
      this.acknowledgeWildcard(
        secretArn,
        'The secret is imported by name; its ARN ends in a random 6-character suffix that only AWS knows, so `-??????` stands for it.',
      );
    }
  }

  /** Acknowledges cdk-nag IAM5 for one wildcard resource of the drainer role, by the id cdk-nag reports. */
  private acknowledgeWildcard(resource: string, reason: string): void {
    const shown = nagResource(Stack.of(this).resolve(resource));
    Validations.of(this.drainerFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${shown}]`,
      reason,
    });
  }

  private metric(name: string, options: MetricOptions = {}): Metric {
    return new Metric({
      namespace: METRICS.namespace,
      metricName: name,
      period: Duration.minutes(1),
      statistic: 'Sum',
      ...options,
      dimensionsMap: { [METRICS.serviceDimension]: this.serviceName, ...options.dimensionsMap },
    });
  }

  /** Webhooks delivered (2xx from the app). */
  metricDelivered(options?: MetricOptions): Metric {
    return this.metric(METRICS.delivered, options);
  }

  /** Attempts that failed transiently and were retried in place. */
  metricRetried(options?: MetricOptions): Metric {
    return this.metric(METRICS.retried, options);
  }

  /** Webhooks moved to the DLQ for one reason. */
  metricDeadLettered(reason: DeadLetterReason, options: MetricOptions = {}): Metric {
    return this.metric(METRICS.deadLettered, { ...options, dimensionsMap: { Reason: reason } });
  }

  /** Webhooks moved to the DLQ for any reason (a sum over the reasons; usable in alarms). */
  metricDeadLetteredTotal(options: MetricOptions = {}): MathExpression {
    const usingMetrics = Object.fromEntries(
      REASONS.map((r, i) => [`r${i}`, this.metricDeadLettered(r, options)]),
    );
    return new MathExpression({
      expression: REASONS.map((_, i) => `FILL(r${i}, 0)`).join(' + '),
      usingMetrics,
      label: 'Dead-lettered',
      period: options.period ?? Duration.minutes(1),
    });
  }

  /** Dead letters whose index record (read by `sluice dlq list`) could not be written; the dead letter is safe. */
  metricDeadLetterIndexFailures(options?: MetricOptions): Metric {
    return this.metric(METRICS.deadLetterIndexFailures, options);
  }

  /** Webhook ids already delivered (within the last 15 days), dropped as duplicates. */
  metricDuplicates(options?: MetricOptions): Metric {
    return this.metric(METRICS.duplicates, options);
  }

  /** Bodies that did not match their signature (never forwarded). */
  metricSignatureFailures(options?: MetricOptions): Metric {
    return this.metric(METRICS.signatureFailures, options);
  }

  /** The app's response time. @default p99 */
  metricDownstreamLatency(options: MetricOptions = {}): Metric {
    return this.metric(METRICS.downstreamLatency, { statistic: 'p99', ...options });
  }

  /** Responses by status class (2xx, 3xx, 4xx, 429, 5xx, timeout, error). */
  metricResponses(statusClass: string, options: MetricOptions = {}): Metric {
    return this.metric(METRICS.responses, { ...options, dimensionsMap: { StatusClass: statusClass } });
  }

  /** The pacing rate the drainer chose, requests/s. @default Average */
  metricPacingRate(options: MetricOptions = {}): Metric {
    return this.metric(METRICS.pacingRate, { statistic: 'Average', ...options });
  }

  /** The pacing window (requests in flight allowed). @default Average */
  metricPacingWindow(options: MetricOptions = {}): Metric {
    return this.metric(METRICS.pacingWindow, { statistic: 'Average', ...options });
  }

  /** Time spent waiting out Retry-After or backoff, ms. */
  metricBackoffTime(options?: MetricOptions): Metric {
    return this.metric(METRICS.backoffTime, options);
  }

  /** Drainer runs started, and minutes a busy run went on (one a minute while healthy). */
  metricRuns(options?: MetricOptions): Metric {
    return this.metric(METRICS.drainerRuns, options);
  }

  /** The drainer function's log group (the dashboard queries its `pace` lines). */
  get logGroupName(): string {
    return this.drainerFunction.logGroup.logGroupName;
  }

  /** Invocations that failed (a broken setup; normal outcomes never throw). */
  metricErrors(options?: MetricOptions): Metric {
    return this.drainerFunction.function.metricErrors({ period: Duration.minutes(1), ...options });
  }

  /** Throttled invocations; non-zero means a run overlapped a tick. */
  metricThrottles(options?: MetricOptions): Metric {
    return this.drainerFunction.function.metricThrottles({ period: Duration.minutes(1), ...options });
  }
}
