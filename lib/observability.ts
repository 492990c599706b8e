/**
 * The CloudWatch dashboard and alarms. They only lay out metrics that the queue, ingress and drainer
 * constructs expose through their `metricXxx()` methods (STYLE §8), so names live in one place.
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  GraphWidgetView,
  type HorizontalAnnotation,
  type IAlarm,
  type IMetric,
  LogQueryVisualizationType,
  LogQueryWidget,
  MathExpression,
  type MetricOptions,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { DEFAULTS } from '../core/config';
import { QUEUE } from '../core/resources';

/** The webhook queue's metrics (AWS/SQS). */
export interface QueueMetricSource {
  /** Messages waiting (visible). */
  metricQueueDepth(props?: MetricOptions): IMetric;
  /** Messages the drainer holds (received, not deleted). */
  metricInFlight(props?: MetricOptions): IMetric;
  /** Age of the oldest message, seconds. */
  metricOldestAge(props?: MetricOptions): IMetric;
  /** Messages in the DLQ (visible). */
  metricDlqDepth(props?: MetricOptions): IMetric;
}

/** The public API's metrics (AWS/ApiGateway, HTTP API names). */
export interface IngressMetricSource {
  metricRequests(props?: MetricOptions): IMetric;
  metricClientErrors(props?: MetricOptions): IMetric;
  metricServerErrors(props?: MetricOptions): IMetric;
  metricLatency(props?: MetricOptions): IMetric;
  /** Webhooks the verify function (the verified route) queued. */
  metricVerifiedAccepted(props?: MetricOptions): IMetric;
  /** Bodies the verify function stored in S3 (claim check). */
  metricClaimChecked(props?: MetricOptions): IMetric;
}

/** Status classes of the drainer's `Responses` metric (`core/resources` METRICS.responses). */
export type StatusClass = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'timeout' | 'error';
export const STATUS_CLASSES: readonly StatusClass[] = ['2xx', '3xx', '4xx', '429', '5xx', 'timeout', 'error'];

/** The drainer's metrics (Sluice EMF namespace, and AWS/Lambda for the function itself). */
export interface DrainerMetricSource {
  /** Webhooks the app accepted (count). */
  metricDelivered(props?: MetricOptions): IMetric;
  /** The pacer's rate, requests/s. */
  metricPacingRate(props?: MetricOptions): IMetric;
  /** The pacer's window, requests in flight allowed. */
  metricPacingWindow(props?: MetricOptions): IMetric;
  /** Time the app took to answer, ms (the statistic, e.g. `p50`, comes in `props`). */
  metricDownstreamLatency(props?: MetricOptions): IMetric;
  /** Answers of the app in one status class (count). */
  metricResponses(statusClass: StatusClass, props?: MetricOptions): IMetric;
  metricSignatureFailures(props?: MetricOptions): IMetric;
  metricDuplicates(props?: MetricOptions): IMetric;
  /** Webhooks moved to the DLQ, all reasons. */
  metricDeadLetteredTotal(props?: MetricOptions): IMetric;
  /** Drainer runs started, and minutes a busy run went on. */
  metricRuns(props?: MetricOptions): IMetric;
  /** Drainer invocations that failed (AWS/Lambda Errors). */
  metricErrors(props?: MetricOptions): IMetric;
  /** The drainer's log group: the "Why this pace" widget queries its `pace` lines (core/drainer.ts logPace). */
  readonly logGroupName: string;
}

/** The sources every observability construct reads. */
export interface MetricSources {
  readonly queue: QueueMetricSource;
  readonly ingress: IngressMetricSource;
  readonly drainer: DrainerMetricSource;
}

const FIVE_MIN = Duration.minutes(5);
const ONE_MIN = Duration.minutes(1);

/** Webhooks delivered per second: the Delivered count over its period. */
function deliveredPerSecond(drainer: DrainerMetricSource, period: Duration): MathExpression {
  return new MathExpression({
    expression: 'FILL(d, 0) / PERIOD(d)',
    usingMetrics: { d: drainer.metricDelivered({ period, statistic: 'Sum' }) },
    label: 'delivered/s',
    period,
  });
}

/**
 * Minutes until the queue is empty at the current delivery rate: (waiting + held) ÷ delivered per second.
 * No data point while nothing is delivered (the "stalled" alarm covers that case).
 */
export function timeToDrain(
  sources: Pick<MetricSources, 'queue' | 'drainer'>,
  period: Duration = FIVE_MIN,
): MathExpression {
  return new MathExpression({
    expression: 'IF(d > 0, (q + f) / (d / PERIOD(d)) / 60)',
    usingMetrics: {
      q: sources.queue.metricQueueDepth({ period, statistic: 'Maximum' }),
      f: sources.queue.metricInFlight({ period, statistic: 'Maximum' }),
      d: sources.drainer.metricDelivered({ period, statistic: 'Sum' }),
    },
    label: 'minutes to drain',
    period,
  });
}

/**
 * 1 when webhooks wait (visible or held) but none was delivered in the period, else 0. While the drainer is
 * paused by an operator this is 1 too, on purpose: held delivery is worth a look after the alarm's 15 minutes.
 */
export function stalled(
  sources: Pick<MetricSources, 'queue' | 'drainer'>,
  period: Duration = FIVE_MIN,
): MathExpression {
  return new MathExpression({
    expression: 'IF((q + f) > 0 AND FILL(d, 0) == 0, 1, 0)',
    usingMetrics: {
      q: sources.queue.metricQueueDepth({ period, statistic: 'Maximum' }),
      f: sources.queue.metricInFlight({ period, statistic: 'Maximum' }),
      d: sources.drainer.metricDelivered({ period, statistic: 'Sum' }),
    },
    label: 'waiting but not delivering',
    period,
  });
}

/**
 * 1 when the app answered at least APP_FAILING_MIN_ANSWERS in the period and more than APP_FAILING_SHARE of
 * them failed (5xx, timeouts, connection errors: not 429 or the 4xx it refuses for good), else 0.
 */
export function appFailing(
  sources: Pick<MetricSources, 'drainer'>,
  period: Duration = FIVE_MIN,
): MathExpression {
  const m = (c: StatusClass) => sources.drainer.metricResponses(c, { period, statistic: 'Sum' });
  return new MathExpression({
    expression: `IF((FILL(e5, 0) + FILL(t, 0) + FILL(er, 0)) > ${APP_FAILING_SHARE} * (FILL(ok, 0) + FILL(c3, 0) + FILL(c4, 0) + FILL(r, 0) + FILL(e5, 0) + FILL(t, 0) + FILL(er, 0)) AND (FILL(ok, 0) + FILL(c3, 0) + FILL(c4, 0) + FILL(r, 0) + FILL(e5, 0) + FILL(t, 0) + FILL(er, 0)) >= ${APP_FAILING_MIN_ANSWERS}, 1, 0)`,
    usingMetrics: {
      ok: m('2xx'),
      c3: m('3xx'),
      c4: m('4xx'),
      r: m('429'),
      e5: m('5xx'),
      t: m('timeout'),
      er: m('error'),
    },
    label: 'most answers failing',
    period,
  });
}

/** AppFailing: more than this share of the app's answers failed, ... */
const APP_FAILING_SHARE = 0.5;
/** ... out of at least this many answers in 5 minutes, for 15 minutes. */
const APP_FAILING_MIN_ANSWERS = 100;

export interface SluiceAlarmsProps extends MetricSources {
  /** Alarm when the oldest queued webhook is older than this, minutes. @default 15 (config `oldestAgeAlarmMinutes`) */
  readonly oldestAgeAlarmMinutes?: number;
  /** Alarm when this many signature failures happen in 5 minutes. @default 10 (config `signatureFailureAlarmCount`) */
  readonly signatureFailureAlarmCount?: number;
  /** Alarm when the API answers this many 5xx in 5 minutes. @default 1 */
  readonly intakeServerErrorCount?: number;
  /** Minutes with webhooks waiting and none delivered before the stalled alarm fires. @default 15 */
  readonly stalledMinutes?: number;
  /** Subscribed to the alarm topic. @default no e-mail */
  readonly alarmEmail?: string;
  /** An existing topic to notify. @default a new topic when `alarmEmail` is set, else no notification */
  readonly alarmTopicArn?: string;
}

/**
 * Sluice's alarms: DLQ not empty, oldest webhook too old, waiting but not delivering, intake 5xx and a
 * signature-failure spike. No alarm watches drainer throttles: the schedule invokes the drainer every minute,
 * and reserved concurrency 1 throttles the ticks that come while a busy run goes on, by design.
 */
export class SluiceAlarms extends Construct {
  readonly dlqNotEmpty: Alarm;
  readonly oldestTooOld: Alarm;
  readonly nearRetention: Alarm;
  readonly notDelivering: Alarm;
  readonly appFailing: Alarm;
  readonly intakeServerErrors: Alarm;
  readonly signatureFailures: Alarm;
  /** Where the alarms notify, when configured. */
  readonly topic?: ITopic;

  constructor(scope: Construct, id: string, props: SluiceAlarmsProps) {
    super(scope, id);
    const oldestMinutes = props.oldestAgeAlarmMinutes ?? DEFAULTS.oldestAgeAlarmMinutes;
    const sigCount = props.signatureFailureAlarmCount ?? DEFAULTS.signatureFailureAlarmCount;
    const intake5xx = props.intakeServerErrorCount ?? 1;
    const stalledMinutes = props.stalledMinutes ?? 15;
    positive('oldestAgeAlarmMinutes', oldestMinutes);
    positive('signatureFailureAlarmCount', sigCount);
    positive('intakeServerErrorCount', intake5xx);
    positive('stalledMinutes', stalledMinutes);
    if (stalledMinutes % 5 !== 0) {
      throw new Error(`SluiceAlarms: stalledMinutes = ${stalledMinutes}; allowed: a multiple of 5.`);
    }

    this.dlqNotEmpty = new Alarm(this, 'DlqNotEmpty', {
      alarmDescription:
        'Webhooks are in the dead-letter queue. See why with `sluice dlq list`; send them back with `sluice dlq redrive`.',
      metric: props.queue.metricDlqDepth({ period: ONE_MIN, statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.oldestTooOld = new Alarm(this, 'OldestTooOld', {
      alarmDescription: `The oldest queued webhook is older than ${oldestMinutes} min: delivery is slower than intake, paused, or stuck.`,
      metric: props.queue.metricOldestAge({ period: ONE_MIN, statistic: 'Maximum' }),
      threshold: oldestMinutes * 60,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    // OldestTooOld fires in every big burst; this one says webhooks are about to be lost: SQS deletes a message
    // unseen at the queue's retention, with no dead letter, so a backlog that drains too slowly loses its tail.
    const retentionDays = QUEUE.retentionSeconds / 86_400;
    this.nearRetention = new Alarm(this, 'NearRetention', {
      alarmDescription: `The oldest queued webhook is over ${retentionDays - NEAR_RETENTION_DAYS} days old: SQS deletes webhooks unseen at ${retentionDays} days. Deliver faster (your app's capacity, \`sluice rate\`, \`sluice resume\`) or they will be lost.`,
      metric: props.queue.metricOldestAge({ period: FIVE_MIN, statistic: 'Maximum' }),
      threshold: QUEUE.retentionSeconds - NEAR_RETENTION_DAYS * 86_400,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.notDelivering = new Alarm(this, 'NotDelivering', {
      alarmDescription: `Webhooks have been waiting for ${stalledMinutes} min and none was delivered: the drainer is down, paused, or every delivery fails. Check \`sluice status\`.`,
      metric: stalled(props),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: stalledMinutes / 5,
      datapointsToAlarm: stalledMinutes / 5,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    // NotDelivering needs zero deliveries; an app failing most of what it gets (a bad deploy on some routes, a
    // database that times out) still delivers some, and retries in place hide it from the queue's age for a while.
    this.appFailing = new Alarm(this, 'AppFailing', {
      alarmDescription: `More than half of your app's answers have been 5xx, timeouts or connection errors for 15 min (at least ${APP_FAILING_MIN_ANSWERS} answers per 5 min): webhooks are retried in place and wait. See the Delivery widgets and \`sluice status\`.`,
      metric: appFailing(props),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.intakeServerErrors = new Alarm(this, 'IntakeServerErrors', {
      alarmDescription: `The webhook API answered ${intake5xx} or more 5xx in 5 min: Shopify will retry, but webhooks are not being queued.`,
      metric: props.ingress.metricServerErrors({ period: FIVE_MIN, statistic: 'Sum' }),
      threshold: intake5xx,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.signatureFailures = new Alarm(this, 'SignatureFailures', {
      alarmDescription: `${sigCount} or more webhooks failed HMAC verification in 5 min: forged traffic, or the Shopify secret is wrong (rotation?).`,
      metric: props.drainer.metricSignatureFailures({ period: FIVE_MIN, statistic: 'Sum' }),
      threshold: sigCount,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const topic = props.alarmTopicArn
      ? Topic.fromTopicArn(this, 'Topic', props.alarmTopicArn)
      : props.alarmEmail
        ? new Topic(this, 'Topic', { displayName: 'Sluice alarms', enforceSSL: true })
        : undefined;
    if (topic instanceof Topic) {
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason:
          'Alarm notifications carry no webhook data; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer key costs $1/month for no gain here.',
      });
    }
    if (topic instanceof Topic) {
      // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: that default is what
      // lets the account's CloudWatch alarms publish. Without this statement every alarm would change state and
      // notify no one ("not authorized to perform: SNS:Publish", seen only in the alarm's history).
      const stack = Stack.of(this);
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': stack.account },
            ArnLike: {
              'aws:SourceArn': stack.formatArn({
                service: 'cloudwatch',
                resource: 'alarm',
                resourceName: '*',
                arnFormat: ArnFormat.COLON_RESOURCE_NAME,
              }),
            },
          },
        }),
      );
    }
    if (topic && props.alarmEmail) topic.addSubscription(new EmailSubscription(props.alarmEmail));
    if (topic) {
      const action = new SnsAction(topic);
      for (const alarm of this.all) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.topic = topic;
    }
  }

  /** Every alarm, for the dashboard's status widget. */
  get all(): Alarm[] {
    return [
      this.dlqNotEmpty,
      this.oldestTooOld,
      this.nearRetention,
      this.notDelivering,
      this.appFailing,
      this.intakeServerErrors,
      this.signatureFailures,
    ];
  }
}

/** NearRetention fires this many days before the queue's retention would delete the oldest webhook. */
const NEAR_RETENTION_DAYS = 3;

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`SluiceAlarms: ${name} = ${v}; allowed: a number above 0.`);
}

export interface SluiceDashboardProps extends MetricSources {
  /** @default generated by CloudFormation */
  readonly dashboardName?: string;
  /** Shown in an alarm-status widget at the top. @default none */
  readonly alarms?: readonly IAlarm[];
  /** Drawn as a line on the age-of-oldest graph. @default 15 */
  readonly oldestAgeAlarmMinutes?: number;
  /** @default Duration.hours(3) */
  readonly defaultInterval?: Duration;
}

/**
 * One dashboard, top to bottom in the order a webhook travels: intake, queue, delivery, drainer.
 * Every widget reads a `metricXxx()` method; metric math adds delivered/s and the time to drain.
 */
export class SluiceDashboard extends Construct {
  readonly dashboard: Dashboard;
  /** The dashboard in the CloudWatch console. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: SluiceDashboardProps) {
    super(scope, id);
    const { queue, ingress, drainer } = props;
    const oldestMinutes = props.oldestAgeAlarmMinutes ?? DEFAULTS.oldestAgeAlarmMinutes;
    this.dashboard = new Dashboard(this, 'Dashboard', {
      ...(props.dashboardName ? { dashboardName: props.dashboardName } : {}),
      defaultInterval: props.defaultInterval ?? Duration.hours(3),
    });
    const region = Stack.of(this).region;
    this.dashboardUrl = `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards:name=${this.dashboard.dashboardName}`;
    const h = 6;
    const title = (markdown: string): TextWidget => new TextWidget({ markdown, width: 24, height: 1 });

    if (props.alarms && props.alarms.length > 0) {
      this.dashboard.addWidgets(
        new AlarmStatusWidget({ title: 'Alarms', alarms: [...props.alarms], width: 24, height: 2 }),
      );
    }

    this.dashboard.addWidgets(title('## Intake — Shopify → API'));
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Requests, 4xx, 5xx',
        left: [
          ingress.metricRequests({ period: ONE_MIN, statistic: 'Sum', label: 'requests' }),
          ingress.metricClientErrors({
            period: ONE_MIN,
            statistic: 'Sum',
            label: '4xx (refused at the edge, or 429: throttled)',
          }),
          ingress.metricServerErrors({ period: ONE_MIN, statistic: 'Sum', label: '5xx' }),
        ],
        width: 12,
        height: h,
      }),
      new GraphWidget({
        title: 'API latency (ms)',
        left: [
          ingress.metricLatency({ period: ONE_MIN, statistic: 'p50', label: 'p50' }),
          ingress.metricLatency({ period: ONE_MIN, statistic: 'p99', label: 'p99' }),
        ],
        width: 6,
        height: h,
      }),
      new GraphWidget({
        title: 'Verified route',
        left: [
          ingress.metricVerifiedAccepted({ period: ONE_MIN, statistic: 'Sum', label: 'queued' }),
          ingress.metricClaimChecked({
            period: ONE_MIN,
            statistic: 'Sum',
            label: 'bodies to S3 (claim check)',
          }),
        ],
        width: 6,
        height: h,
      }),
    );

    this.dashboard.addWidgets(title('## Queue'));
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Waiting and in flight',
        left: [
          queue.metricQueueDepth({ period: ONE_MIN, statistic: 'Maximum', label: 'waiting (visible)' }),
          queue.metricInFlight({
            period: ONE_MIN,
            statistic: 'Maximum',
            label: 'in flight (held by the drainer)',
          }),
        ],
        width: 8,
        height: h,
      }),
      new GraphWidget({
        title: 'Age of the oldest webhook (s)',
        left: [queue.metricOldestAge({ period: ONE_MIN, statistic: 'Maximum', label: 'oldest' })],
        leftAnnotations: [alarmLine(oldestMinutes * 60, `alarm: ${oldestMinutes} min`)],
        width: 6,
        height: h,
      }),
      new GraphWidget({
        title: 'Time to drain (min)',
        left: [timeToDrain(props)],
        width: 6,
        height: h,
      }),
      new SingleValueWidget({
        title: 'Dead-letter queue',
        metrics: [queue.metricDlqDepth({ period: ONE_MIN, statistic: 'Maximum', label: 'in the DLQ' })],
        sparkline: true,
        width: 4,
        height: h,
      }),
    );

    this.dashboard.addWidgets(title('## Delivery — Sluice → the app'));
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Delivered/s against the pacing rate',
        left: [
          deliveredPerSecond(drainer, ONE_MIN),
          drainer.metricPacingRate({ period: ONE_MIN, statistic: 'Average', label: 'pacing rate (req/s)' }),
        ],
        right: [
          drainer.metricPacingWindow({ period: ONE_MIN, statistic: 'Average', label: 'window (in flight)' }),
        ],
        width: 12,
        height: h,
      }),
      new GraphWidget({
        title: 'App response time (ms)',
        left: [
          drainer.metricDownstreamLatency({ period: ONE_MIN, statistic: 'p50', label: 'p50' }),
          drainer.metricDownstreamLatency({ period: ONE_MIN, statistic: 'p99', label: 'p99' }),
        ],
        width: 12,
        height: h,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'App answers by status class',
        left: STATUS_CLASSES.map((c) =>
          drainer.metricResponses(c, { period: ONE_MIN, statistic: 'Sum', label: c }),
        ),
        stacked: true,
        view: GraphWidgetView.TIME_SERIES,
        width: 12,
        height: h,
      }),
      new GraphWidget({
        title: 'Signature failures, duplicates, dead-lettered',
        left: [
          drainer.metricSignatureFailures({ period: ONE_MIN, statistic: 'Sum', label: 'signature failures' }),
          drainer.metricDuplicates({
            period: ONE_MIN,
            statistic: 'Sum',
            label: 'duplicates (already delivered)',
          }),
          drainer.metricDeadLetteredTotal({ period: ONE_MIN, statistic: 'Sum' }),
        ],
        width: 12,
        height: h,
      }),
    );

    this.dashboard.addWidgets(
      new LogQueryWidget({
        // The drainer logs what sets the pace each time it changes (checked every 5 s): the reasons behind the
        // pacing graph above, newest first. `sluice status` says the same for the moment it is run.
        title: 'Why this pace (the drainer’s pace changes, newest first)',
        logGroupNames: [drainer.logGroupName],
        queryLines: [
          'fields @timestamp, setBy, ratePerSecond, window, windowSetBy, learnedLimitPerSecond, queuesWork',
          'filter message = "pace"',
          'sort @timestamp desc',
          'limit 50',
        ],
        view: LogQueryVisualizationType.TABLE,
        width: 24,
        height: h,
      }),
    );

    this.dashboard.addWidgets(title('## Drainer'));
    this.dashboard.addWidgets(
      new GraphWidget({
        // The schedule starts one run a minute and each run ends before the next tick, or a busy run goes on a
        // minute at a time and counts each: 1/min is healthy.
        title: 'Running (drainer runs started per minute)',
        left: [drainer.metricRuns({ period: ONE_MIN, statistic: 'Sum', label: 'runs started' })],
        leftAnnotations: [{ value: 1, label: 'healthy: one a minute', color: '#2ca02c' }],
        width: 12,
        height: h,
      }),
      new GraphWidget({
        title: 'Errors',
        left: [drainer.metricErrors({ period: ONE_MIN, statistic: 'Sum', label: 'failed invocations' })],
        width: 12,
        height: h,
      }),
    );
  }
}

function alarmLine(value: number, label: string): HorizontalAnnotation {
  return { value, label, color: '#d62728' };
}
