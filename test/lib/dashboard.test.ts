// Construct tests for the dashboard and alarms: widgets bound to the constructs' metrics, thresholds, actions.
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { METRICS, OUTPUTS, QUEUE } from '../../core/resources';
import { Drainer } from '../../lib/drainer';
import { Ingress } from '../../lib/ingress';
import {
  SluiceAlarms,
  type SluiceAlarmsProps,
  SluiceDashboard,
  STATUS_CLASSES,
} from '../../lib/observability';
import { WebhookQueue } from '../../lib/queue';
import { fastApp, testConfig, testStack } from '../helpers/stacks';

/** A stack with the real queue, ingress and drainer constructs, and the dashboard and alarms over them. */
function observedStack(alarms: Partial<SluiceAlarmsProps> = {}) {
  const stack = new Stack(fastApp(), 'Obs');
  const config = testConfig();
  const queues = new WebhookQueue(stack, 'Queue');
  const secret = new Secret(stack, 'Secret');
  const bodyBucket = new Bucket(stack, 'Bodies');
  const ingress = new Ingress(stack, 'Ingress', {
    queue: queues.queue,
    bodyBucket,
    secret,
    config,
    serviceName: 'svc',
  });
  const drainer = new Drainer(stack, 'Drainer', {
    queue: queues.queue,
    deadLetterQueue: queues.deadLetterQueue,
    secret,
    config,
    serviceName: 'svc',
  });
  const sources = { queue: queues, ingress, drainer };
  const alarmSet = new SluiceAlarms(stack, 'Alarms', { ...sources, ...alarms });
  const dashboard = new SluiceDashboard(stack, 'Dashboard', { ...sources, alarms: alarmSet.all });
  return { stack, queues, ingress, drainer, alarmSet, dashboard, template: Template.fromStack(stack) };
}

const logicalIdOf = (c: { node: { defaultChild?: unknown }; stack: Stack }): string =>
  c.stack.resolve((c.node.defaultChild as { logicalId: string }).logicalId);

type Widget = { type: string; properties: Record<string, unknown> };

/** The dashboard body as JSON, with the stack's tokens replaced by their logical ids. */
function dashboardBody(stack: Stack, t: Template): { widgets: Widget[] } {
  const [dash] = Object.values(t.findResources('AWS::CloudWatch::Dashboard'));
  const body = stack.resolve((dash as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody);
  const join = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(join).join(sep);
    }
    if (o.Ref) return `{${String(o.Ref)}}`;
    if (o['Fn::GetAtt']) return `{${(o['Fn::GetAtt'] as string[]).join('.')}}`;
    return JSON.stringify(o);
  };
  return JSON.parse(join(body));
}

const byTitle = (widgets: Widget[], title: string): Widget => {
  const w = widgets.find((x) => x.properties.title === title);
  if (!w)
    throw new Error(`no widget titled ${title}; have ${widgets.map((x) => x.properties.title).join(' | ')}`);
  return w;
};

/** The metric arrays of a graph widget: `[namespace, name, dim, value, …, {options}]` or `[{expression}]`. */
const metricsOf = (w: Widget): unknown[][] => (w.properties.metrics as unknown[][]) ?? [];
const names = (w: Widget): string[] =>
  metricsOf(w)
    .map((m) => (typeof m[0] === 'string' ? `${m[0]}/${m[1]}` : ''))
    .filter((x) => x !== '');

describe('SluiceDashboard', () => {
  const { stack, template, dashboard, queues } = observedStack();
  const { widgets } = dashboardBody(stack, template);

  it('lays out intake: requests, 4xx, 5xx and latency from the HTTP API, and the verified route', () => {
    expect(names(byTitle(widgets, 'Requests, 4xx, 5xx'))).toEqual([
      'AWS/ApiGateway/Count',
      'AWS/ApiGateway/4xx',
      'AWS/ApiGateway/5xx',
    ]);
    const latency = byTitle(widgets, 'API latency (ms)');
    expect(names(latency)).toEqual(['AWS/ApiGateway/Latency', 'AWS/ApiGateway/Latency']);
    expect(metricsOf(latency).map((m) => (m.at(-1) as { stat: string }).stat)).toEqual(['p50', 'p99']);
    expect(names(byTitle(widgets, 'Verified route'))).toEqual([
      `${METRICS.namespace}/${METRICS.verifiedAccepted}`,
      `${METRICS.namespace}/${METRICS.claimChecked}`,
    ]);
  });

  it('lays out the queue: waiting, in flight, age of the oldest and the DLQ, from AWS/SQS', () => {
    expect(names(byTitle(widgets, 'Waiting and in flight'))).toEqual([
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesNotVisible',
    ]);
    const oldest = byTitle(widgets, 'Age of the oldest webhook (s)');
    expect(names(oldest)).toEqual(['AWS/SQS/ApproximateAgeOfOldestMessage']);
    expect(oldest.properties.annotations).toMatchObject({ horizontal: [{ value: 15 * 60 }] });
    const dlq = byTitle(widgets, 'Dead-letter queue');
    expect(dlq.properties.metrics).toEqual([
      [
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        `{${logicalIdOf(queues.deadLetterQueue)}.QueueName}`,
        expect.anything(),
      ],
    ]);
  });

  it('computes the time to drain with metric math: (waiting + in flight) ÷ delivered per second', () => {
    const drain = byTitle(widgets, 'Time to drain (min)');
    const rows = metricsOf(drain);
    expect(rows[0]?.[0]).toMatchObject({ expression: 'IF(d > 0, (q + f) / (d / PERIOD(d)) / 60)' });
    expect(rows.slice(1).map((r) => `${r[0]}/${r[1]}`)).toEqual([
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'AWS/SQS/ApproximateNumberOfMessagesNotVisible',
      `${METRICS.namespace}/${METRICS.delivered}`,
    ]);
  });

  it('lays out delivery from the Sluice namespace under the service dimension: delivered/s against the pacing rate', () => {
    const w = byTitle(widgets, 'Delivered/s against the pacing rate');
    const rows = metricsOf(w);
    expect(rows[0]?.[0]).toMatchObject({ expression: 'FILL(d, 0) / PERIOD(d)', label: 'delivered/s' });
    expect(rows).toContainEqual([
      METRICS.namespace,
      METRICS.delivered,
      METRICS.serviceDimension,
      'svc',
      expect.objectContaining({ visible: false }),
    ]);
    expect(rows).toContainEqual([
      METRICS.namespace,
      METRICS.pacingRate,
      METRICS.serviceDimension,
      'svc',
      expect.objectContaining({ label: 'pacing rate (req/s)' }),
    ]);
    expect(rows).toContainEqual([
      METRICS.namespace,
      METRICS.pacingWindow,
      METRICS.serviceDimension,
      'svc',
      expect.objectContaining({ yAxis: 'right' }),
    ]);
  });

  it('queries the drainer’s own log group for its pace lines: why the pace is what the graphs show', () => {
    const w = byTitle(widgets, 'Why this pace (the drainer’s pace changes, newest first)');
    expect(w.type).toBe('log');
    const query = String(w.properties.query);
    // The drainer function's log group, by reference (SOURCE '<group>' | fields …).
    const [logGroup] = Object.keys(template.findResources('AWS::Logs::LogGroup')).filter((id) =>
      id.startsWith('DrainerLogs'),
    );
    expect(logGroup).toBeDefined();
    expect(query).toContain(`SOURCE '{${logGroup}}'`);
    expect(query).toContain('filter message = "pace"');
    expect(query).toContain('fields @timestamp, setBy, ratePerSecond, window, windowSetBy');
  });

  it('shows the app latency p50/p99, the status mix, signature failures, duplicates and dead-lettered', () => {
    const latency = byTitle(widgets, 'App response time (ms)');
    expect(metricsOf(latency).map((m) => [m[1], (m.at(-1) as { stat: string }).stat])).toEqual([
      [METRICS.downstreamLatency, 'p50'],
      [METRICS.downstreamLatency, 'p99'],
    ]);
    const mix = byTitle(widgets, 'App answers by status class');
    expect(mix.properties.stacked).toBe(true);
    expect(metricsOf(mix).map((m) => [m[1], m[2], m[3]])).toEqual(
      ['2xx', '3xx', '4xx', '429', '5xx', 'timeout', 'error'].map((c) => [
        METRICS.responses,
        'StatusClass',
        c,
      ]),
    );
    const bad = byTitle(widgets, 'Signature failures, duplicates, dead-lettered');
    const rows = metricsOf(bad);
    expect(rows.slice(0, 2).map((m) => m[1])).toEqual([METRICS.signatureFailures, METRICS.duplicates]);
    expect(rows.some((m) => (m[0] as { expression?: string }).expression?.includes('FILL(r0, 0)'))).toBe(
      true,
    );
  });

  it('shows the drainer running and its errors', () => {
    expect(names(byTitle(widgets, 'Running (drainer runs started per minute)'))).toEqual([
      `${METRICS.namespace}/${METRICS.drainerRuns}`,
    ]);
    expect(names(byTitle(widgets, 'Errors'))).toEqual(['AWS/Lambda/Errors']);
  });

  it('puts the alarm status on top', () => {
    const status = widgets.find((w) => w.type === 'alarm');
    expect(status?.properties.alarms).toHaveLength(7);
  });

  it('has a console URL naming the region and the dashboard', () => {
    expect(stack.resolve(dashboard.dashboardUrl)).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { Ref: 'AWS::Region' },
          '.console.aws.amazon.com/cloudwatch/home?region=',
          { Ref: 'AWS::Region' },
          '#dashboards:name=',
          { Ref: logicalIdOf(dashboard.dashboard) },
        ],
      ],
    });
  });
});

describe('SluiceAlarms', () => {
  it('alarms when the DLQ is not empty', () => {
    const { template } = observedStack();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'QueueName'] },
        },
      ],
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('alarms on the age of the oldest webhook at the configured minutes', () => {
    const { template } = observedStack({ oldestAgeAlarmMinutes: 30 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
    });
  });

  it('alarms when webhooks wait but none is delivered, with metric math over the queue and Delivered', () => {
    const { template } = observedStack();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'IF((q + f) > 0 AND FILL(d, 0) == 0, 1, 0)' }),
        Match.objectLike({
          Id: 'd',
          MetricStat: Match.objectLike({
            Metric: Match.objectLike({
              Namespace: METRICS.namespace,
              MetricName: METRICS.delivered,
              Dimensions: [{ Name: METRICS.serviceDimension, Value: 'svc' }],
            }),
            Stat: 'Sum',
          }),
        }),
      ]),
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  it('alarms on intake 5xx and on a signature-failure spike at the configured count', () => {
    const { template } = observedStack({ signatureFailureAlarmCount: 25 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRICS.namespace,
      MetricName: METRICS.signatureFailures,
      Dimensions: [{ Name: METRICS.serviceDimension, Value: 'svc' }],
      Period: 300,
      Threshold: 25,
    });
  });

  it('never alarms on drainer throttles', () => {
    const { template } = observedStack();
    expect(
      template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'Throttles' } }),
    ).toEqual({});
    template.resourceCountIs('AWS::CloudWatch::Alarm', 7);
  });

  it("alarms when most of the app's answers fail for 15 min, counting every status class the drainer reports", () => {
    const { template } = observedStack();
    const alarms = Object.values(
      template.findResources('AWS::CloudWatch::Alarm', {
        Properties: { AlarmDescription: Match.stringLikeRegexp('More than half of your app') },
      }),
    ) as {
      Properties: {
        Metrics: { Id: string; Expression?: string; MetricStat?: unknown }[];
        EvaluationPeriods: number;
      };
    }[];
    expect(alarms).toHaveLength(1);
    const { Metrics, EvaluationPeriods } = alarms[0]!.Properties;
    expect(EvaluationPeriods).toBe(3);
    const expression = Metrics.find((m) => m.Expression)!.Expression!;
    expect(expression).toContain('> 0.5 *');
    expect(expression).toContain('>= 100');
    // One metric per status class, all of them in the denominator.
    expect(Metrics.filter((m) => m.MetricStat)).toHaveLength(STATUS_CLASSES.length);
    for (const m of Metrics.filter((x) => x.MetricStat)) expect(expression).toContain(`FILL(${m.Id}, 0)`);
  });

  it("alarms 3 days before the queue's retention would delete the oldest webhook unseen", () => {
    const { template } = observedStack();
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Statistic: 'Maximum',
      Threshold: QUEUE.retentionSeconds - 3 * 86_400,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('has no action and no topic by default', () => {
    const { template } = observedStack();
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect((alarm as { Properties: Record<string, unknown> }).Properties.AlarmActions).toBeUndefined();
    }
  });

  it('creates a TLS-only topic with the e-mail subscribed and notifies it on alarm and OK', () => {
    const { template } = observedStack({ alarmEmail: 'ops@example.com' });
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          // The topic's own policy replaces SNS's default, so the alarms need an explicit allow to publish.
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': Match.anyValue() } }),
          }),
        ]),
      },
    });
    const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(7);
    for (const a of alarms) {
      const p = (a as { Properties: { AlarmActions: unknown; OKActions: unknown } }).Properties;
      expect(p.AlarmActions).toEqual([{ Ref: topic }]);
      expect(p.OKActions).toEqual([{ Ref: topic }]);
    }
  });

  it('notifies an existing topic when given its ARN, without creating one', () => {
    const arn = 'arn:aws:sns:us-east-1:123456789012:ops-alarms';
    const { template } = observedStack({ alarmTopicArn: arn });
    template.resourceCountIs('AWS::SNS::Topic', 0);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [arn], OKActions: [arn] });
  });

  it('rejects a threshold that is not positive, naming it', () => {
    expect(() => observedStack({ oldestAgeAlarmMinutes: 0 })).toThrow(
      /SluiceAlarms: oldestAgeAlarmMinutes = 0; allowed: a number above 0/,
    );
  });
});

describe('Sluice (dashboard and alarms wired in)', () => {
  it('outputs the dashboard URL under OUTPUTS.dashboardUrl', () => {
    const stack = testStack();
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    t.hasOutput(OUTPUTS.dashboardUrl, {
      Value: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['#dashboards:name='])] }),
    });
  });

  it('takes the alarm thresholds and the e-mail from the configuration', () => {
    const t = Template.fromStack(
      testStack({ oldestAgeAlarmMinutes: 45, signatureFailureAlarmCount: 3, alarmEmail: 'ops@example.com' }),
    );
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 2700,
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRICS.signatureFailures,
      Threshold: 3,
    });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('passes CloudFormation validation and cdk-nag AwsSolutions with the alarm topic', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    testStack({ alarmEmail: 'ops@example.com' }, app);
    // Any unacknowledged finding or validation error makes synth throw.
    expect(() => app.synth()).not.toThrow();
  });
});
