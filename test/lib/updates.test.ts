/**
 * Changing a setting and deploying again must keep the webhooks already queued: no setting may make
 * CloudFormation replace the queue, the DLQ, the state table or the body bucket (a new logical id, or a
 * property whose change means replacement), which would delete them with their content.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { DEFAULTS, FIELDS } from '../../core/config';
import { testStack } from '../helpers/stacks';

/** A valid value other than the default, for every field. */
const CHANGED: Readonly<Record<string, unknown>> = {
  downstreamUrl: 'https://other.example.com/base',
  secretName: 'shopify/other-app',
  orderingKey: 'shop-topic',
  allowedShops: ['a.myshopify.com'],
  allowedTopics: ['orders/create'],
  rateFloorPerSecond: 2,
  rateCeilingPerSecond: 50,
  maxInFlight: 4,
  maxAttempts: 7,
  maxRetryMinutes: 60,
  downstreamTimeoutMs: 5_000,
  idleExitSeconds: 20,
  serviceTimeMetric: 'app',
  verifyAllRoutes: true,
  alarmEmail: 'ops@example.com',
  alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:ops',
  oldestAgeAlarmMinutes: 30,
  signatureFailureAlarmCount: 3,
};

/** Properties whose change makes CloudFormation replace the resource, per type. */
const REPLACING: Readonly<Record<string, readonly string[]>> = {
  'AWS::SQS::Queue': ['QueueName', 'FifoQueue'],
  'AWS::DynamoDB::Table': ['TableName', 'KeySchema', 'LocalSecondaryIndexes'],
  'AWS::S3::Bucket': ['BucketName'],
};

/** Logical id → the replacing properties of every stateful resource. */
function stateful(overrides: Readonly<Record<string, unknown>>): Map<string, unknown> {
  const resources = Template.fromStack(testStack(overrides)).toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const out = new Map<string, unknown>();
  for (const [id, r] of Object.entries(resources)) {
    const keys = REPLACING[r.Type];
    if (!keys) continue;
    out.set(id, { type: r.Type, ...Object.fromEntries(keys.map((k) => [k, r.Properties?.[k]])) });
  }
  return out;
}

describe('redeploying with a changed setting', () => {
  const before = stateful({});

  it('has the stateful resources to compare: the queue, the DLQ, the state table and the body bucket', () => {
    const types = [...before.values()].map((v) => (v as { type: string }).type).sort();
    expect(types).toEqual(['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::SQS::Queue']);
  });

  it('covers every setting with a value other than its default', () => {
    expect(Object.keys(CHANGED).sort()).toEqual(FIELDS.map((f) => f.key).sort());
    for (const [key, value] of Object.entries(CHANGED)) {
      expect(value).not.toEqual((DEFAULTS as Record<string, unknown>)[key]);
    }
  });

  it.each(Object.keys(CHANGED))('keeps the queues, table and bucket when %s changes', (key) => {
    expect(stateful({ [key]: CHANGED[key] })).toEqual(before);
  });
});
