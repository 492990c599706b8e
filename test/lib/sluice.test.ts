import { Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { integrationParameters } from '../../core/mapping';
import { OUTPUTS, QUEUE } from '../../core/resources';
import { SECRET_PLACEHOLDER } from '../../core/verify';
import { DEFAULT_THROTTLE, IDENTITY_SOURCES } from '../../lib/ingress';
import { WebhookQueue } from '../../lib/queue';
import { Sluice } from '../../lib/sluice';
import type { SluiceStack } from '../../lib/sluice-stack';
import { fastApp, testConfig, testStack } from '../helpers/stacks';

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string =>
  stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId);

/** The logical id of the only resource of `type` whose properties match `props`. */
function onlyResource(t: Template, type: string, props: Record<string, unknown> = {}): string {
  const found = Object.keys(t.findResources(type, { Properties: props }));
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('Sluice', () => {
  let stack: SluiceStack;
  let t: Template;
  beforeAll(() => {
    stack = testStack();
    t = Template.fromStack(stack);
  });

  describe('queues', () => {
    it('creates two FIFO queues in high-throughput mode, encrypted, 14 days', () => {
      t.resourceCountIs('AWS::SQS::Queue', 2);
      t.allResourcesProperties('AWS::SQS::Queue', {
        FifoQueue: true,
        DeduplicationScope: 'messageGroup',
        FifoThroughputLimit: 'perMessageGroupId',
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: QUEUE.retentionSeconds,
      });
    });

    it('caps the webhook queue 1 KiB under the DLQ (1 MiB), so every webhook can be dead-lettered with its reason', () => {
      const dlq = logicalId(stack, stack.sluice.deadLetterQueue);
      const queues = t.findResources('AWS::SQS::Queue');
      const size = (id: string) =>
        (queues[id] as { Properties: { MaximumMessageSize: number } }).Properties.MaximumMessageSize;
      const main = Object.keys(queues).find((id) => id !== dlq)!;
      expect(size(dlq)).toBe(1_048_576);
      expect(size(main)).toBe(1_048_576 - 1_024);
    });

    it('redrives the main queue to the DLQ after QUEUE.maxReceiveCount receives', () => {
      const dlq = logicalId(stack, stack.sluice.deadLetterQueue);
      t.hasResourceProperties('AWS::SQS::Queue', {
        VisibilityTimeout: QUEUE.visibilityTimeoutSeconds,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
          maxReceiveCount: QUEUE.maxReceiveCount,
        },
      });
    });

    it('denies non-TLS access to both queues', () => {
      t.resourcePropertiesCountIs(
        'AWS::SQS::QueuePolicy',
        {
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        },
        2,
      );
    });
  });

  describe('direct route', () => {
    it('sends to SQS with exactly the shared mapping parameters', () => {
      t.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
        IntegrationType: 'AWS_PROXY',
        IntegrationSubtype: 'SQS-SendMessage',
        PayloadFormatVersion: '1.0',
        RequestParameters: stack.resolve(integrationParameters(stack.sluice.queue.queueUrl)),
      });
    });

    it('screens with a simple-response Lambda authorizer, no cache, the five Shopify headers as identity', () => {
      t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'REQUEST',
        AuthorizerResultTtlInSeconds: 0,
        EnableSimpleResponses: true,
        AuthorizerPayloadFormatVersion: '2.0',
        IdentitySource: [
          '$request.header.x-shopify-hmac-sha256',
          '$request.header.x-shopify-topic',
          '$request.header.x-shopify-shop-domain',
          '$request.header.x-shopify-api-version',
          '$request.header.x-shopify-webhook-id',
        ],
      });
      expect(IDENTITY_SOURCES).toHaveLength(5);
    });

    it('puts the authorizer and the SQS integration on POST /{proxy+}', () => {
      const sqs = onlyResource(t, 'AWS::ApiGatewayV2::Integration', {
        IntegrationSubtype: 'SQS-SendMessage',
      });
      const authorizer = onlyResource(t, 'AWS::ApiGatewayV2::Authorizer');
      t.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'POST /{proxy+}',
        AuthorizationType: 'CUSTOM',
        AuthorizerId: { Ref: authorizer },
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: sqs }]] },
      });
    });
  });

  describe('verified route', () => {
    const verifyTarget = (s: SluiceStack, tt: Template) => {
      const fn = logicalId(s, s.sluice.ingress.verifyFunction.function);
      const integration = onlyResource(tt, 'AWS::ApiGatewayV2::Integration', {
        IntegrationUri: { 'Fn::GetAtt': [fn, 'Arn'] },
      });
      return { 'Fn::Join': ['', ['integrations/', { Ref: integration }]] };
    };

    it('sends POST /verified/{proxy+} to the verify function without an authorizer', () => {
      t.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'POST /verified/{proxy+}',
        AuthorizationType: 'NONE',
        Target: verifyTarget(stack, t),
      });
    });

    it('sends every other method to the verify function, which answers 405', () => {
      t.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'ANY /{proxy+}',
        Target: verifyTarget(stack, t),
      });
    });

    it('sends POST /{proxy+} to the verify function too, and has no authorizer, when verifyAllRoutes', () => {
      const all = testStack({ verifyAllRoutes: true });
      const tt = Template.fromStack(all);
      tt.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: 'POST /{proxy+}',
        AuthorizationType: 'NONE',
        Target: verifyTarget(all, tt),
      });
      tt.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
      tt.resourcePropertiesCountIs(
        'AWS::ApiGatewayV2::Integration',
        { IntegrationSubtype: 'SQS-SendMessage' },
        0,
      );
    });

    it('gives the verify function the queue, bucket and secret names and its configuration', () => {
      const s = stack.sluice;
      t.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            QUEUE_URL: stack.resolve(s.queue.queueUrl),
            BUCKET_NAME: stack.resolve(s.bodyBucket.bucketName),
            SECRET_ARN: stack.resolve(s.secret.secretArn),
            DOWNSTREAM_URL: 'https://app.example.com',
            ORDERING_KEY: 'resource',
          }),
        },
      });
    });

    it('lets the verify function put objects only under bodies/ and send only to the queue', () => {
      const bucket = logicalId(stack, stack.sluice.bodyBucket);
      t.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            {
              Effect: 'Allow',
              Action: 's3:PutObject',
              Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/bodies/*']] },
            },
          ]),
        },
      });
    });
  });

  describe('stage', () => {
    it('is the auto-deployed $default stage with throttling and JSON access logs', () => {
      t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: {
          ThrottlingRateLimit: DEFAULT_THROTTLE.rateLimit,
          ThrottlingBurstLimit: DEFAULT_THROTTLE.burstLimit,
        },
        AccessLogSettings: {
          DestinationArn: Match.anyValue(),
          Format: Match.stringLikeRegexp('"requestId":"\\$context.requestId"'),
        },
      });
    });
  });

  describe('functions', () => {
    it('run Node 24 on ARM64 with their own log group', () => {
      t.resourceCountIs('AWS::Lambda::Function', 3); // authorizer, verify, drainer
      t.allResourcesProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogGroup: Match.anyValue() },
      });
      t.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('have roles without managed policies', () => {
      t.allResourcesProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
    });
  });

  describe('claim-check bucket', () => {
    // 14 days in the queue, then 14 more in the DLQ (a dead letter is a new message): a body gone sooner
    // would leave a dead letter pointing at nothing.
    it('is private, encrypted and expires bodies after 28 days', () => {
      t.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        LifecycleConfiguration: {
          Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 28, Status: 'Enabled' })]),
        },
      });
    });

    it('is TLS only', () => {
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  it('grants the verify function only what it calls: SendMessage, PutObject under bodies/, GetSecretValue, its logs', () => {
    const roles = t.findResources('AWS::IAM::Role');
    const verifyRole = Object.keys(roles).find((id) => /Verify/.test(id) && !/Log/.test(id));
    expect(verifyRole).toBeDefined();
    const actions = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${verifyRole}"`))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[])
      .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]));
    expect(new Set(actions)).toEqual(
      new Set([
        'sqs:SendMessage',
        's3:PutObject',
        'secretsmanager:GetSecretValue',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
      ]),
    );
  });

  describe('secret', () => {
    it('is created holding the placeholder when no secretName is given', () => {
      t.hasResourceProperties('AWS::SecretsManager::Secret', { SecretString: SECRET_PLACEHOLDER });
      // The same text in every release: a changed SecretString would overwrite the user's secret on deploy.
      expect(SECRET_PLACEHOLDER).toBe('REPLACE_ME_WITH_THE_SHOPIFY_CLIENT_SECRET');
    });

    it('is imported by name, and readable by the verify function, when secretName is given', () => {
      const tt = Template.fromStack(testStack({ secretName: 'shopify/my-app' }));
      tt.resourceCountIs('AWS::SecretsManager::Secret', 0);
      tt.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: 'secretsmanager:GetSecretValue',
              Resource: Match.objectLike({
                'Fn::Join': Match.arrayWith([Match.arrayWith([':secret:shopify/my-app-??????'])]),
              }),
            }),
          ]),
        },
      });
      tt.hasOutput(OUTPUTS.secretName, { Value: 'shopify/my-app' });
    });

    it('warns at synth about a plain-http or private downstream URL, and not about a public https one', () => {
      const warningsOf = (downstreamUrl: string): string[] =>
        Annotations.fromStack(testStack({ downstreamUrl }))
          .findWarning('*', Match.stringLikeRegexp('downstreamUrl'))
          .map((w) => String(w.entry.data));
      expect(warningsOf('https://app.example.com')).toEqual([]);
      expect(warningsOf('http://app.example.com')).toEqual([expect.stringContaining('plain http')]);
      expect(warningsOf('https://10.0.3.7:8443')).toEqual([expect.stringContaining('private host')]);
      expect(warningsOf('http://localhost:3000')).toHaveLength(2);
      expect(warningsOf('https://172.32.0.1')).toEqual([]);
    });

    // Read as a name, an ARN became `…:secret:arn:aws:…-??????` in the grant and the functions' SECRET_ARN.
    it('is imported by its complete ARN when secretName is one', () => {
      const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:shopify/my-app-AbCdEf';
      const tt = Template.fromStack(testStack({ secretName: arn }));
      tt.resourceCountIs('AWS::SecretsManager::Secret', 0);
      tt.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Action: 'secretsmanager:GetSecretValue', Resource: arn }),
          ]),
        },
      });
      tt.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ SECRET_ARN: arn }) },
      });
    });
  });

  describe('outputs', () => {
    it.each([
      ['webhookUrl', (s: SluiceStack) => s.sluice.webhookUrl],
      ['verifiedUrl', (s: SluiceStack) => s.sluice.verifiedUrl],
      ['queueName', (s: SluiceStack) => s.sluice.queue.queueName],
      ['queueUrl', (s: SluiceStack) => s.sluice.queue.queueUrl],
      ['deadLetterQueueName', (s: SluiceStack) => s.sluice.deadLetterQueue.queueName],
      ['deadLetterQueueUrl', (s: SluiceStack) => s.sluice.deadLetterQueue.queueUrl],
      ['secretName', (s: SluiceStack) => s.sluice.secret.secretName],
    ] as const)('has the %s output under its fixed key', (key, value) => {
      t.hasOutput(OUTPUTS[key], { Value: stack.resolve(value(stack)) });
    });

    it('ends the verified URL in /verified/', () => {
      const url = JSON.stringify(stack.resolve(stack.sluice.verifiedUrl));
      expect(url).toMatch(/\/verified\/"/);
    });
  });

  describe('props validation', () => {
    it.each([0, 1001, 2.5])('rejects maxReceiveCount %p, naming the allowed range', (n) => {
      expect(() => new WebhookQueue(new Stack(), 'Q', { maxReceiveCount: n })).toThrow(
        `WebhookQueue: maxReceiveCount = ${n}; allowed: an integer from 1 to 1000.`,
      );
    });

    it('rejects a throttle below 1 request per second', () => {
      const app = fastApp();
      expect(
        () => new Sluice(new Stack(app, 'T'), 'S', { config: testConfig(), throttle: { rateLimit: 0 } }),
      ).toThrow('Ingress: throttle.rateLimit = 0; allowed: a number ≥ 1.');
    });
  });

  describe('metrics', () => {
    it('names the verify function metrics in the Sluice namespace under the stack as service', () => {
      const m = stack.resolve(stack.sluice.ingress.metricVerifiedAccepted().toMetricConfig().metricStat);
      expect(m).toMatchObject({
        namespace: 'Sluice',
        metricName: 'VerifiedAccepted',
        dimensions: [{ name: 'service', value: stack.stackName }],
      });
    });

    it('exposes the queue pair with its metrics', () => {
      expect(stack.sluice.queues.queue).toBe(stack.sluice.queue);
      expect(stack.sluice.queues.deadLetterQueue).toBe(stack.sluice.deadLetterQueue);
    });
  });

  describe('cdk-nag AwsSolutions', () => {
    it.each([
      ['the default configuration', {}],
      ['verifyAllRoutes with an imported secret', { verifyAllRoutes: true, secretName: 'shopify/app' }],
    ])('reports no unacknowledged finding for %s', (_, overrides) => {
      const s = testStack(overrides);
      const report = new AwsSolutionsChecks().validateScope(s);
      expect(
        report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
      ).toEqual([]);
    });

    it('acknowledges each finding on its own resource with a specific reason', () => {
      const acks: Array<{ path: string; ids: string[] }> = [];
      for (const c of stack.node.findAll()) {
        for (const m of c.node.metadata) {
          if (
            m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY &&
            m.data &&
            typeof m.data === 'object'
          ) {
            acks.push({ path: c.node.path, ids: Object.keys(m.data) });
          }
        }
      }
      expect(acks.length).toBeGreaterThan(0);
      expect(acks.every((a) => a.path !== stack.node.path && a.path.split('/').length > 3)).toBe(true);
    });
  });
});
