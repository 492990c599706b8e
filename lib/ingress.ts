/** The edge (DESIGN §2): HTTP API, the screening authorizer, the direct SQS route and the verified route. */
import { CfnElement, Duration, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  HttpMethod,
  type HttpRoute,
  HttpStage,
  LogGroupLogDestination,
  ParameterMapping,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration, HttpSqsIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { type IMetric, Metric, type MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configToEnv, type SluiceConfig } from '../core/config';
import { classicHeaderName, REQUIRED_FIELDS } from '../core/headers';
import { integrationParameters } from '../core/mapping';
import { METRICS, ROUTES } from '../core/resources';
import { CLAIM_CHECK_PREFIX } from '../core/verify';
import { SluiceFunction } from './function';

/** The CloudFormation logical id of a construct's resource, as cdk-nag names it in its findings. */
function logicalIdOf(construct: Construct): string {
  const child = construct.node.defaultChild;
  if (!(child instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return String(Stack.of(construct).resolve(child.logicalId));
}

/** Identity sources of the screening authorizer: API Gateway answers 401 itself when one is missing. */
export const IDENTITY_SOURCES: readonly string[] = REQUIRED_FIELDS.map(
  (f) => `$request.header.${classicHeaderName(f)}`,
);

/** Stage throttling when none is given: well above one ordering group's ~300 sends/s, below the account's 10 000/s. */
export const DEFAULT_THROTTLE: Required<ThrottleSettings> = { rateLimit: 5000, burstLimit: 5000 };

export interface IngressProps {
  readonly queue: IQueue;
  /** Where the verify function stores bodies that do not fit in a message. */
  readonly bodyBucket: IBucket;
  /** The Shopify secret(s) the verify function checks signatures with. */
  readonly secret: ISecret;
  readonly config: SluiceConfig;
  /** Stage throttling; over it API Gateway answers 429 and Shopify retries. @default DEFAULT_THROTTLE */
  readonly throttle?: ThrottleSettings;
  /** Retention of the access log and the function logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
  /** Service name for EMF metrics (the `service` dimension). @default the stack name */
  readonly serviceName?: string;
}

/**
 * `POST /{proxy+}` → screening authorizer → SQS `SendMessage` (or the verify function when
 * `verifyAllRoutes`); `POST /verified/{proxy+}` → the verify function; any other method → 405 from the
 * verify function.
 */
export class Ingress extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  /** The screening authorizer; absent when `verifyAllRoutes` sends everything through the verify function. */
  readonly authorizerFunction?: SluiceFunction;
  readonly verifyFunction: SluiceFunction;
  /** Base URL of the webhook routes, ending in `/`. */
  readonly url: string;
  /** Base URL of the verified route, ending in `/verified/`. */
  readonly verifiedUrl: string;
  readonly webhookRoutes: readonly HttpRoute[];
  /** The `service` dimension of the verify function's metrics. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: IngressProps) {
    super(scope, id);
    const { config, queue } = props;
    const retention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const env = configToEnv(config);
    const serviceName = props.serviceName ?? Stack.of(this).stackName;
    this.serviceName = serviceName;
    const throttle = props.throttle ?? DEFAULT_THROTTLE;
    for (const [name, value] of Object.entries(throttle)) {
      if (value !== undefined && (!Number.isFinite(value) || value < 1)) {
        throw new Error(`Ingress: throttle.${name} = ${value}; allowed: a number ≥ 1.`);
      }
    }

    this.verifyFunction = new SluiceFunction(this, 'Verify', {
      entry: 'lambda/verify.ts',
      description: 'Sluice verified route: HMAC check over the raw body, then enqueue',
      memorySize: 512,
      logRetention: retention,
      environment: {
        ...env,
        QUEUE_URL: queue.queueUrl,
        BUCKET_NAME: props.bodyBucket.bucketName,
        SECRET_ARN: props.secret.secretArn,
        POWERTOOLS_SERVICE_NAME: serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS.namespace,
      },
    });
    // SendMessage only, and GetSecretValue only below (grantSendMessages and grantRead would add
    // GetQueueAttributes, GetQueueUrl and DescribeSecret, which the function never calls).
    this.verifyFunction.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
    );
    // PutObject only, under the claim-check prefix (grantPut would add s3:Abort* and the legal-hold actions).
    this.verifyFunction.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.bodyBucket.arnForObjects(`${CLAIM_CHECK_PREFIX}*`)],
      }),
    );
    this.verifyFunction.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: [props.secret.secretFullArn ?? `${props.secret.secretArn}-??????`],
      }),
    );
    // Customer-managed keys, when a user brings them; SSE-SQS and the default secret key need no grant.
    queue.encryptionMasterKey?.grantEncryptDecrypt(this.verifyFunction.role);
    props.secret.encryptionKey?.grantDecrypt(this.verifyFunction.role);
    Validations.of(this.verifyFunction.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(props.bodyBucket)}.Arn>/${CLAIM_CHECK_PREFIX}*]`,
      reason:
        'The verify function writes one claim-checked body per webhook under the bodies/ prefix of its own bucket; the key (webhook id and receive time) is only known at run time.',
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', { retention });
    this.httpApi = new HttpApi(this, 'Api', {
      description: 'Sluice: Shopify webhooks in, queued for paced delivery',
      createDefaultStage: false,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            time: '$context.requestTimeEpoch',
            method: '$context.httpMethod',
            path: '$context.path',
            status: '$context.status',
            latencyMs: '$context.responseLatency',
            integrationStatus: '$context.integrationStatus',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            webhookId: '$context.authorizer.webhookId',
          }),
        ),
      },
    });
    this.url = this.stage.url;
    this.verifiedUrl = `${this.stage.url}${ROUTES.verifiedPrefix.slice(1)}/`;

    const verify = new HttpLambdaIntegration('VerifyIntegration', this.verifyFunction.function);
    const routes: HttpRoute[] = [];
    if (config.verifyAllRoutes) {
      routes.push(
        ...this.httpApi.addRoutes({ path: '/{proxy+}', methods: [HttpMethod.POST], integration: verify }),
      );
    } else {
      this.authorizerFunction = new SluiceFunction(this, 'Authorizer', {
        entry: 'lambda/authorizer.ts',
        description: 'Sluice edge authorizer: screens Shopify headers, no body, no secret',
        memorySize: 256,
        timeout: Duration.seconds(3),
        logRetention: retention,
        environment: env,
      });
      let mapping = new ParameterMapping();
      for (const [key, value] of Object.entries(integrationParameters(queue.queueUrl))) {
        mapping = mapping.custom(key, value);
      }
      const authorizer = new HttpLambdaAuthorizer('Screening', this.authorizerFunction.function, {
        authorizerName: 'shopify-screening',
        identitySource: [...IDENTITY_SOURCES],
        responseTypes: [HttpLambdaResponseType.SIMPLE],
        // Every delivery carries a different signature and webhook id: a cache could only serve stale context.
        resultsCacheTtl: Duration.seconds(0),
      });
      routes.push(
        ...this.httpApi.addRoutes({
          path: '/{proxy+}',
          methods: [HttpMethod.POST],
          integration: new HttpSqsIntegration('DirectToQueue', { queue, parameterMapping: mapping }),
          authorizer,
        }),
      );
    }
    const verified = this.httpApi.addRoutes({
      path: `${ROUTES.verifiedPrefix}/{proxy+}`,
      methods: [HttpMethod.POST],
      integration: verify,
    });
    // ANY matches only the methods without a route of their own, so POST keeps its route and the rest get 405.
    const others = this.httpApi.addRoutes({
      path: '/{proxy+}',
      methods: [HttpMethod.ANY],
      integration: verify,
    });
    for (const route of [...(config.verifyAllRoutes ? routes : []), ...verified, ...others]) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'Shopify sends no credential an authorizer could check; this route goes to the verify function, which checks the HMAC over the raw body and answers 401 itself (405 for methods other than POST).',
      });
    }
    this.webhookRoutes = [...routes, ...verified];
  }

  /** Requests to the API (AWS/ApiGateway `Count`). @default Sum over 1 minute */
  metricRequests(options?: MetricOptions): Metric {
    return this.httpApi.metricCount({ period: Duration.minutes(1), ...options });
  }

  /** Requests refused at the edge: missing or malformed Shopify headers (`4xx`). @default Sum over 1 minute */
  metricClientErrors(options?: MetricOptions): Metric {
    return this.httpApi.metricClientError({ period: Duration.minutes(1), ...options });
  }

  /** Requests the API failed (`5xx`): the webhook was not queued, Shopify retries it. @default Sum over 1 minute */
  metricServerErrors(options?: MetricOptions): Metric {
    return this.httpApi.metricServerError({ period: Duration.minutes(1), ...options });
  }

  /** Time the API took to answer, ms. @default p99 over 1 minute */
  metricLatency(options?: MetricOptions): Metric {
    return this.httpApi.metricLatency({ period: Duration.minutes(1), statistic: 'p99', ...options });
  }

  /** Forgeries the verify function answered 401 (Sluice SignatureFailures; the drainer counts its own). */
  metricVerifySignatureFailures(props?: MetricOptions): IMetric {
    return this.sluiceMetric(METRICS.signatureFailures, props);
  }

  /** Webhooks the verify function queued. */
  metricVerifiedAccepted(props?: MetricOptions): IMetric {
    return this.sluiceMetric(METRICS.verifiedAccepted, props);
  }

  /** Bodies the verify function stored in S3 (claim check). */
  metricClaimChecked(props?: MetricOptions): IMetric {
    return this.sluiceMetric(METRICS.claimChecked, props);
  }

  private sluiceMetric(metricName: string, props?: MetricOptions): IMetric {
    return new Metric({
      namespace: METRICS.namespace,
      metricName,
      dimensionsMap: { [METRICS.serviceDimension]: this.serviceName },
      statistic: 'Sum',
      ...props,
    });
  }
}
