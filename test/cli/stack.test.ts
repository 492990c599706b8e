// The operations CLI against a deployed stack: CloudFormation, SQS, DynamoDB and CloudWatch mocked at the SDK.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { createPacer, onSend, onSignal } from '../../core/pacer';
import { OUTPUTS } from '../../core/resources';
import { SECRET_PLACEHOLDER } from '../../core/verify';
import { sluice } from '../helpers/cli';

const cfn = mockClient(CloudFormationClient);
const cw = mockClient(CloudWatchClient);
const sqs = mockClient(SQSClient);
const ddb = mockClient(DynamoDBClient);
const sm = mockClient(SecretsManagerClient);

const NOW = Date.parse('2026-11-25T13:00:30Z');
const ENV = { AWS_REGION: 'eu-west-1' };
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/Sluice-Queue.fifo';
const DLQ_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/Sluice-Dlq.fifo';

function stackOutputs(): { OutputKey: string; OutputValue: string }[] {
  return [
    { OutputKey: OUTPUTS.queueUrl, OutputValue: QUEUE_URL },
    { OutputKey: OUTPUTS.queueName, OutputValue: 'Sluice-Queue.fifo' },
    { OutputKey: OUTPUTS.deadLetterQueueUrl, OutputValue: DLQ_URL },
    { OutputKey: OUTPUTS.tableName, OutputValue: 'Sluice-State' },
    { OutputKey: OUTPUTS.drainerFunctionName, OutputValue: 'Sluice-Drainer' },
    { OutputKey: OUTPUTS.dashboardUrl, OutputValue: 'https://console.example/dash' },
  ];
}

describe('sluice CLI (deployed stack)', () => {
  beforeEach(() => {
    cfn.reset();
    cw.reset();
    sqs.reset();
    ddb.reset();
    cfn.on(DescribeStacksCommand, { StackName: 'Sluice' }).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(0),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: stackOutputs(),
        },
      ],
    });
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: QUEUE_URL })
      .resolves({
        Attributes: { ApproximateNumberOfMessages: '1200', ApproximateNumberOfMessagesNotVisible: '8' },
      })
      .on(GetQueueAttributesCommand, { QueueUrl: DLQ_URL })
      .resolves({
        Attributes: { ApproximateNumberOfMessages: '2', ApproximateNumberOfMessagesNotVisible: '0' },
      });
    const pacer = createPacer(
      { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 32, initialRatePerSecond: 40 },
      NOW - 5_000,
    );
    ddb.on(GetItemCommand).resolves({
      Item: {
        pk: { S: 'drainer#state' },
        leaseOwner: { S: 'run-42' },
        leaseExpiresAt: { N: String(NOW + 20_000) },
        pacer: { S: JSON.stringify(pacer) },
        pacerSavedAt: { N: String(NOW - 5_000) },
        paused: { BOOL: false },
        ceilingPerSecond: { N: '80' },
      },
    });
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map((q) => {
        const values: Record<string, number[]> = {
          oldest: [95, 80],
          delivered: [9_000, 8_000],
          sigfail: [3],
          resp0: [30_000],
          resp3: [12],
          dead1: [2],
          errors: [0],
        };
        // Newest first, one per period back from the query's end.
        const vals = values[q.Id ?? ''] ?? [];
        const period = (q.MetricStat?.Period ?? 60) * 1000;
        const end = input.EndTime!.getTime();
        return { Id: q.Id, Values: vals, Timestamps: vals.map((_, i) => new Date(end - (i + 1) * period)) };
      }),
    }));
  });

  it('finds the resources from the stack outputs in AWS_REGION and reports status from SQS, DynamoDB and CloudWatch', async () => {
    const run = await sluice(['--stack', 'Sluice', 'status', '--json'], { env: ENV, now: () => NOW });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const s = JSON.parse(run.stdout);
    expect(s).toMatchObject({
      kind: 'stack',
      queue: { visible: 1200, inFlight: 8, oldestAgeSeconds: 95 },
      dlq: { depth: 2 },
      lease: { owner: 'run-42' },
      controls: { paused: false, ceilingPerSecond: 80 },
      recent: {
        deliveredPerSecond5m: 30,
        signatureFailures1h: 3,
        responses1h: { '2xx': 30_000, '429': 12 },
        deadLettered1h: { rejected: 2 },
        drainerErrors1h: 0,
      },
      dashboardUrl: 'https://console.example/dash',
    });
    expect(s.pacing.ratePerSecond).toBeGreaterThan(0);
    // A pacer that has not seen an overload yet: start-up, and Little's law sizes the window.
    expect(s.pacing.explanation).toMatchObject({ rateBound: 'startup', windowBound: 'rate' });
    expect(s.pacing.explanation.ratePerSecond).toBe(s.pacing.ratePerSecond);
    expect(await cfn.call(0).args[0].input).toEqual({ StackName: 'Sluice' });
    expect(await cfn.call(0).thisValue.config.region()).toBe('eu-west-1');
  });

  it('asks CloudWatch for the queue age and the Sluice metrics under the stack name as service', async () => {
    await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });
    const input = cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    const byId = new Map((input.MetricDataQueries ?? []).map((q) => [q.Id, q.MetricStat]));
    expect(byId.get('oldest')).toMatchObject({
      Metric: {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: 'Sluice-Queue.fifo' }],
      },
      Stat: 'Maximum',
    });
    expect(byId.get('delivered')).toMatchObject({
      Metric: {
        Namespace: 'Sluice',
        MetricName: 'Delivered',
        Dimensions: [{ Name: 'service', Value: 'Sluice' }],
      },
      Stat: 'Sum',
    });
    expect(byId.get('errors')).toMatchObject({
      Metric: {
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Dimensions: [{ Name: 'FunctionName', Value: 'Sluice-Drainer' }],
      },
    });
  });

  it('reads 0 delivered when the newest Delivered point is old, not that point as the current rate', async () => {
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map((q) =>
        q.Id === 'delivered'
          ? // The last busy 5 minutes were 45 minutes ago; nothing since (an outage).
            { Id: q.Id, Values: [6_000], Timestamps: [new Date(input.EndTime!.getTime() - 45 * 60_000)] }
          : { Id: q.Id, Values: [], Timestamps: [] },
      ),
    }));

    const run = await sluice(['--stack', 'Sluice', 'status', '--json'], { env: ENV, now: () => NOW });

    expect(JSON.parse(run.stdout).recent.deliveredPerSecond5m).toBe(0);
  });

  it('still reports the queue, DLQ, pacing and lease when CloudWatch refuses, saying why the metrics are missing', async () => {
    cw.on(GetMetricDataCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: cloudwatch:GetMetricData'), {
        name: 'AccessDenied',
      }),
    );

    const run = await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });

    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^queue\s+1200 waiting, 8 in flight$/m);
    // The age comes from CloudWatch only: unknown, not "empty", with 1200 waiting.
    expect(run.stdout).toMatch(/^oldest\s+\? \(not known: no recent CloudWatch reading\)$/m);
    expect(run.stdout).toMatch(/^metrics\s+not read from CloudWatch: User is not authorized/m);
  });

  it('names the metrics after the stack when --stack is its ARN', async () => {
    const arn = 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Sluice/0a1b2c3d';
    cfn.on(DescribeStacksCommand, { StackName: arn }).resolves({
      Stacks: [
        {
          StackName: 'Sluice',
          CreationTime: new Date(0),
          StackStatus: 'CREATE_COMPLETE',
          Outputs: stackOutputs(),
        },
      ],
    });

    await sluice(['--stack', arn, 'status'], { env: ENV, now: () => NOW });

    const input = cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    const delivered = (input.MetricDataQueries ?? []).find((q) => q.Id === 'delivered');
    expect(delivered?.MetricStat?.Metric?.Dimensions).toEqual([{ Name: 'service', Value: 'Sluice' }]);
  });

  // A newcomer who skips "set the secret" sees 200s at the edge and a growing queue; only the drainer's log said
  // why. The value is compared, never printed.
  describe('the Shopify secret', () => {
    const withSecret = (): void => {
      cfn.on(DescribeStacksCommand, { StackName: 'Sluice' }).resolves({
        Stacks: [
          {
            StackName: 'Sluice',
            CreationTime: new Date(0),
            StackStatus: 'CREATE_COMPLETE',
            Outputs: [...stackOutputs(), { OutputKey: OUTPUTS.secretName, OutputValue: 'Sluice-Secret' }],
          },
        ],
      });
    };
    beforeEach(() => sm.reset());

    it('says delivery is held while the secret holds the placeholder', async () => {
      withSecret();
      sm.on(GetSecretValueCommand, { SecretId: 'Sluice-Secret' }).resolves({
        SecretString: SECRET_PLACEHOLDER,
      });
      const run = await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/shopify secret\s+NOT SET: it holds no key \(the placeholder/);
      expect(run.stdout).toMatch(/delivery\s+HELD: nothing is delivered until the Shopify secret is set/);
      expect(run.stdout).not.toContain(SECRET_PLACEHOLDER);
    });

    it('says set, without the value, once it holds a key', async () => {
      withSecret();
      sm.on(GetSecretValueCommand).resolves({ SecretString: 'shpss_new,shpss_old' });
      const run = await sluice(['--stack', 'Sluice', 'status', '--json'], { env: ENV, now: () => NOW });
      expect(JSON.parse(run.stdout).secret).toEqual({ state: 'set' });
      expect(run.stdout).not.toContain('shpss_');
    });

    it('says why it cannot tell, and reports the rest, when the secret cannot be read', async () => {
      withSecret();
      sm.on(GetSecretValueCommand).rejects(new Error('User is not authorized to perform GetSecretValue'));
      const run = await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/shopify secret\s+\? \(cannot read it: User is not authorized/);
      expect(run.stdout).toMatch(/delivery\s+running/);
      expect(run.stdout).toMatch(/queue\s+1200 waiting/);
    });
  });

  it('prints a human status with the figures and the dashboard link', async () => {
    const run = await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/queue\s+1200 waiting, 8 in flight/);
    expect(run.stdout).toMatch(/oldest\s+2 min/);
    expect(run.stdout).toMatch(/responses 1h\s+2xx 30000, 429 12/);
    expect(run.stdout).toMatch(/rate limits\s+ceiling 80\/s \(operator\)/);
    expect(run.stdout).toMatch(/drainer\s+run-42, lease until/);
    expect(run.stdout).toMatch(/dashboard\s+https:\/\/console\.example\/dash/);
    expect(run.stdout).toMatch(/rate set by\s+start-up: the rate doubles until your app first pushes back/);
    expect(run.stdout).toMatch(/window set by\s+the rate \(\d+ in flight carry it\)/);
    expect(run.stdout).not.toMatch(/^pauses/m);
  });

  it("explains a pace the app's answers set: the limit learned, the next probe, the window a refusal capped", async () => {
    // 2xx at two in flight, a 503 at three with Retry-After, 2xx again, then a 429 without Retry-After; saved 1 s
    // after that.
    const t0 = NOW - 20_000;
    let pacer = createPacer(
      { floorPerSecond: 1, ceilingPerSecond: 200, maxWindow: 32, initialRatePerSecond: 40 },
      t0,
    );
    const served = (from: number, to: number): void => {
      for (let t = from; t < to; t += 25) {
        pacer = onSignal(onSend(pacer, t), { kind: 'accepted', rttMs: 100, level: 2 }, t + 100);
      }
    };
    served(t0, t0 + 1_000);
    pacer = onSignal(
      onSend(pacer, t0 + 1_100),
      { kind: 'overload', rttMs: 2, retryAfterMs: 1_000, refusedAtLevel: 3 },
      t0 + 1_102,
    );
    served(t0 + 2_200, t0 + 4_000);
    pacer = onSignal(onSend(pacer, t0 + 4_000), { kind: 'overload', rttMs: 100 }, t0 + 4_100);
    pacer = { ...pacer, banksWork: -1 };
    const savedAt = t0 + 5_100;
    ddb.on(GetItemCommand).resolves({
      Item: {
        pk: { S: 'drainer#state' },
        pacer: { S: JSON.stringify(pacer) },
        pacerSavedAt: { N: String(savedAt) },
        paused: { BOOL: false },
      },
    });
    const run = await sluice(['--stack', 'Sluice', 'status'], { env: ENV, now: () => NOW });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /rate set by\s+the limit learned from your app's 429\/5xx\/timeouts \(\d+\/s, last overload 16 s ago\)$/m,
    );
    expect(run.stdout).toMatch(/window set by\s+your app refused request 3 in flight and served 2/);
    expect(run.stdout).toMatch(
      /pauses\s+your app does not bank work through a pause: pauses are not made up/,
    );
    const json = JSON.parse(
      (await sluice(['--stack', 'Sluice', 'status', '--json'], { env: ENV, now: () => NOW })).stdout,
    );
    expect(json.pacing.explanation).toMatchObject({
      rateBound: 'learned',
      windowBound: 'refusals',
      window: 2,
      lastCutMsAgo: 15_900,
      queuesWork: false,
    });
  });

  it('writes the operator controls to the stack table on pause and rate', async () => {
    ddb.on(UpdateItemCommand).resolves({ Attributes: { paused: { BOOL: true } } });
    expect((await sluice(['--stack', 'Sluice', 'pause'], { env: ENV })).code).toBe(0);
    expect(
      (await sluice(['--stack', 'Sluice', 'rate', '--floor', '2', '--ceiling', '40'], { env: ENV })).code,
    ).toBe(0);
    const updates = ddb.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    expect(updates[0]).toMatchObject({
      TableName: 'Sluice-State',
      ExpressionAttributeValues: { ':paused': { BOOL: true } },
    });
    expect(updates[1]).toMatchObject({ TableName: 'Sluice-State' });
    expect(JSON.stringify(updates[1]?.ExpressionAttributeValues)).toMatch(/"40"/);
  });

  it('exits 2, naming the conflict, when a floor alone would exceed the stored ceiling', async () => {
    ddb
      .on(UpdateItemCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      );

    const run = await sluice(['--stack', 'Sluice', 'rate', '--floor', '50'], { env: ENV });

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('floorPerSecond = 50; must not exceed the ceiling set with rate --ceiling');
    expect(ddb.commandCalls(UpdateItemCommand)[0]!.args[0].input.ConditionExpression).toContain(
      '#ceiling >= :floor',
    );
  });

  it('exits 2 with a clear message when the stack does not exist', async () => {
    cfn
      .on(DescribeStacksCommand, { StackName: 'Nope' })
      .rejects(new Error('Stack with id Nope does not exist'));
    const run = await sluice(['--stack', 'Nope', 'status'], { env: ENV });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/stack Nope not found in eu-west-1/);
  });

  it('exits 2 when the stack is not a Sluice stack', async () => {
    cfn.on(DescribeStacksCommand, { StackName: 'Other' }).resolves({
      Stacks: [
        { StackName: 'Other', CreationTime: new Date(0), StackStatus: 'CREATE_COMPLETE', Outputs: [] },
      ],
    });
    const run = await sluice(['--stack', 'Other', 'status'], { env: ENV });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/has no output QueueUrl: is it a Sluice stack\?/);
  });

  describe('with no region in the environment', () => {
    // The AWS SDK reads the profile from the process environment, as it does for `cdk deploy`.
    const saved = { ...process.env };
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'sluice-profile-'));
      for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[k];
      process.env.AWS_CONFIG_FILE = join(dir, 'config');
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
    });
    afterEach(() => {
      process.env = { ...saved };
      rmSync(dir, { recursive: true, force: true });
    });

    it('exits 2 when no profile names one either', async () => {
      const run = await sluice(['--stack', 'Sluice', 'status'], { env: {} });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(
        /no AWS region: set AWS_REGION, give --region, or set a region in your AWS profile/,
      );
    });

    it("uses the AWS profile's region, as cdk deploy does", async () => {
      writeFileSync(
        process.env.AWS_CONFIG_FILE!,
        '[default]\nregion = us-west-2\n\n[profile ops]\nregion = ap-southeast-2\n',
      );
      process.env.AWS_PROFILE = 'ops';
      const run = await sluice(['--stack', 'Sluice', 'status', '--json'], { env: {}, now: () => NOW });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(await cfn.call(0).thisValue.config.region()).toBe('ap-southeast-2');
      expect(await sqs.call(0).thisValue.config.region()).toBe('ap-southeast-2');
    });
  });
});
