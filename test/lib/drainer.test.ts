import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseConfig } from '../../core/config';
import { METRICS, TABLE } from '../../core/resources';
import { Drainer } from '../../lib/drainer';
import { WebhookQueue } from '../../lib/queue';

const config = parseConfig({ downstreamUrl: 'https://app.example.com', maxInFlight: 16 });

/** A stack holding a Drainer over the stack's own queue, DLQ, secret and bucket. */
function drainerStack(
  options: { readonly validate?: boolean; readonly bucket?: boolean; readonly importedSecret?: boolean } = {},
) {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    ...(options.validate ? {} : { builtinCloudFormationValidation: false }),
  } as ConstructorParameters<typeof App>[0]);
  if (options.validate) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Test');
  const queues = new WebhookQueue(stack, 'Queue');
  const secret = options.importedSecret
    ? Secret.fromSecretNameV2(stack, 'Secret', 'shopify/app')
    : new Secret(stack, 'Secret');
  Validations.of(secret).acknowledge({ id: 'AwsSolutions-SMG4', reason: 'test secret' });
  const bucket = options.bucket === false ? undefined : new Bucket(stack, 'Bodies', { enforceSSL: true });
  if (bucket) Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason: 'test bucket' });
  const drainer = new Drainer(stack, 'Drainer', {
    queue: queues.queue,
    deadLetterQueue: queues.deadLetterQueue,
    secret,
    config,
    serviceName: 'svc',
    ...(bucket ? { bodyBucket: bucket } : {}),
  });
  return { app, stack, drainer, template: Template.fromStack(stack) };
}

/** The statements of the drainer role's inline policy. */
function drainerStatements(
  template: Template,
): { Sid?: string; Action: string | string[]; Resource: unknown }[] {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp('DrainerRole') }] },
  });
  const docs = Object.values(policies).map(
    (p) => (p as { Properties: { PolicyDocument: { Statement: [] } } }).Properties.PolicyDocument.Statement,
  );
  return docs.flat();
}

describe('Drainer', () => {
  it('runs a single Node 24 ARM64 function with reserved concurrency 1 and its configuration in env', () => {
    const { template } = drainerStack();

    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      ReservedConcurrentExecutions: 1,
      // A busy run may go on to the 15-minute maximum (lambda/drainer.ts extension).
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          DOWNSTREAM_URL: 'https://app.example.com',
          MAX_IN_FLIGHT: '16',
          QUEUE_URL: Match.anyValue(),
          DLQ_URL: Match.anyValue(),
          TABLE_NAME: Match.anyValue(),
          SECRET_ARN: Match.anyValue(),
          BUCKET_NAME: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'svc',
          POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
        }),
      },
    });
  });

  it('starts the function every minute, with no retries and a one-minute event age', () => {
    const { template } = drainerStack();

    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DrainerFunction'), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
        }),
      ],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  it('keeps its state in an on-demand table with PITR, the TTL attribute and the partition key', () => {
    const { template } = drainerStack();

    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: TABLE.partitionKey, AttributeType: 'S' }]),
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
    });
  });

  it('indexes the dead-letter records in a sparse global index sorted by failure, for `sluice dlq list`', () => {
    const { template } = drainerStack();

    template.hasResourceProperties('AWS::DynamoDB::Table', {
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: TABLE.deadLetterIndexPartition, AttributeType: 'S' },
        { AttributeName: TABLE.deadLetterIndexSort, AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE.deadLetterIndex,
          KeySchema: [
            { AttributeName: TABLE.deadLetterIndexPartition, KeyType: 'HASH' },
            { AttributeName: TABLE.deadLetterIndexSort, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('grants only the calls the drainer makes, each on its own resource', () => {
    const { template } = drainerStack();

    const statements = drainerStatements(template);
    const bySid = Object.fromEntries(statements.filter((s) => s.Sid).map((s) => [s.Sid, s]));

    expect(bySid.ReceiveAndSettleWebhooks).toEqual({
      Sid: 'ReceiveAndSettleWebhooks',
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Queue(?!DeadLetter)/), 'Arn'] },
    });
    expect(bySid.DeadLetterWebhooks).toEqual({
      Sid: 'DeadLetterWebhooks',
      Effect: 'Allow',
      Action: 'sqs:SendMessage',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^QueueDeadLetterQueue/), 'Arn'] },
    });
    expect(bySid.DrainerState).toEqual({
      Sid: 'DrainerState',
      Effect: 'Allow',
      Action: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
      ],
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DrainerState/), 'Arn'] },
    });
    expect(bySid.ReadShopifySecret).toEqual({
      Sid: 'ReadShopifySecret',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: { Ref: expect.stringMatching(/^Secret/) },
    });
    expect(bySid.ReadClaimCheckedBodies).toMatchObject({
      Action: 's3:GetObject',
      Resource: {
        'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^Bodies/), 'Arn'] }, '/bodies/*']],
      },
    });
    // A missing key must read as 404 NoSuchKey (dead-lettered as body-missing), not 403: S3 tells the two
    // apart only to a caller allowed to list the bucket, and a GetObject request carries no s3:prefix for a
    // condition on it to match.
    expect(bySid.TellMissingClaimCheckedBodies).toMatchObject({
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Bodies/), 'Arn'] },
    });
    expect(bySid.TellMissingClaimCheckedBodies.Condition).toBeUndefined();
    // Besides these, only the log-group statement of SluiceFunction: no other service, no other action.
    const others = statements.filter((s) => !s.Sid);
    expect(others.flatMap((s) => [s.Action].flat()).sort()).toEqual([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
  });

  it('grants no S3 access when there is no claim-check bucket', () => {
    const { template } = drainerStack({ bucket: false });

    const actions = drainerStatements(template).flatMap((s) => [s.Action].flat());

    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
  });

  it('synthesizes with CloudFormation validation and cdk-nag AwsSolutions without errors', () => {
    // An imported secret adds the second acknowledged wildcard (its ARN suffix).
    const { stack } = drainerStack({ validate: true, importedSecret: true });

    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });

  it('offers its metrics under the Sluice namespace and service dimension', () => {
    const { drainer } = drainerStack();

    expect(drainer.metricDelivered().namespace).toBe(METRICS.namespace);
    expect(drainer.metricDelivered().dimensions).toEqual({ service: 'svc' });
    expect(drainer.metricDeadLettered('signature').dimensions).toEqual({
      service: 'svc',
      Reason: 'signature',
    });
    expect(drainer.metricDeadLetteredTotal().expression).toContain('FILL(r0, 0)');
    expect(drainer.metricDeadLetterIndexFailures().metricName).toBe(METRICS.deadLetterIndexFailures);
  });
});
