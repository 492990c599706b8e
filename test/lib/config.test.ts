import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ConfigError, configFromEnv, configToEnv, DEFAULTS, FIELDS, parseConfig } from '../../core/config';
import { appConfig } from '../../lib/app-config';
import { SluiceStack } from '../../lib/sluice-stack';
import { fastApp } from '../helpers/stacks';

const BASE = { downstreamUrl: 'https://app.example.com' };

/** Every way a configuration can be wrong: [field, value, text the error must contain]. */
const INVALID: ReadonlyArray<readonly [string, unknown, string]> = [
  ['downstreamUrl', undefined, 'required'],
  ['downstreamUrl', 'app.example.com', 'absolute http'],
  ['downstreamUrl', 'ftp://app.example.com', 'absolute http'],
  ['downstreamUrl', 'https://app.example.com/?a=1', 'without query'],
  ['downstreamUrl', 42, 'URL is required'],
  ['secretName', '   ', 'non-empty string'],
  [
    'secretName',
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:shopify',
    'complete ARN as the console',
  ],
  ['orderingKey', 'customer', 'shop, shop-topic, global, none'],
  ['allowedShops', 'evil.example.com', 'myshopify.com'],
  ['allowedShops', [1], 'list of strings'],
  ['allowedTopics', 'products update', 'products/update'],
  ['rateFloorPerSecond', '0', 'from 0.1'],
  ['rateFloorPerSecond', 'fast', 'a number'],
  ['rateCeilingPerSecond', 20_000, 'to 10000'],
  ['maxInFlight', 1.5, 'an integer'],
  ['maxInFlight', 0, 'from 1'],
  ['maxAttempts', 0, 'from 1'],
  ['maxRetryMinutes', 30_000, 'to 20160'],
  ['downstreamTimeoutMs', 50, 'from 100'],
  ['idleExitSeconds', -1, 'an integer from 0 to 50'],
  ['idleExitSeconds', 60, 'to 50'],
  ['idleExitSeconds', 2.5, 'an integer'],
  ['idleExitSeconds', 'soon', 'an integer'],
  ['serviceTimeMetric', 'app;dur', 'allowed: empty (off) or a Server-Timing metric name such as app'],
  ['serviceTimeMetric', 'app time', 'such as app'],
  ['serviceTimeMetric', 'a'.repeat(65), '1 to 64 letters'],
  ['verifyAllRoutes', 'yes', 'true or false'],
  ['alarmEmail', 'ops-at-example', 'e-mail'],
  ['alarmTopicArn', 'my-topic', 'SNS topic ARN'],
  ['oldestAgeAlarmMinutes', 0, 'from 1'],
  ['signatureFailureAlarmCount', 2.5, 'an integer'],
  ['downstreamUrlTypo', 'x', 'unknown field'],
];

describe('parseConfig', () => {
  it.each(INVALID)('rejects %s = %j with a ConfigError naming the field', (field, value, allowed) => {
    const input = field === 'downstreamUrl' ? { [field]: value } : { ...BASE, [field]: value };
    let error: unknown;
    try {
      parseConfig(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as ConfigError).message).toContain(allowed);
  });

  it('rejects a floor above the ceiling, naming the floor', () => {
    expect(() => parseConfig({ ...BASE, rateFloorPerSecond: 50, rateCeilingPerSecond: 10 })).toThrow(
      expect.objectContaining({ field: 'rateFloorPerSecond' }),
    );
  });

  it('covers every field in the table above', () => {
    const covered = new Set(INVALID.map(([f]) => f));
    expect(FIELDS.map((f) => f.key).filter((k) => !covered.has(k))).toEqual([]);
  });

  it('allows in allowedTopics every topic shape Shopify sends', () => {
    const topics = ['products/update', 'customer.tags_added', 'Product'];
    expect(parseConfig({ ...BASE, allowedTopics: topics }).allowedTopics).toEqual(topics);
  });

  it('fills the defaults', () => {
    expect(parseConfig(BASE)).toEqual({ ...DEFAULTS, ...BASE });
  });

  it('keeps polling until the run ends unless idleExitSeconds is set (default 0)', () => {
    expect(parseConfig(BASE).idleExitSeconds).toBe(0);
    expect(parseConfig({ ...BASE, idleExitSeconds: 20 }).idleExitSeconds).toBe(20);
    expect(parseConfig({ ...BASE, idleExitSeconds: '50' }).idleExitSeconds).toBe(50);
  });

  it('reads idleExitSeconds from IDLE_EXIT_SECONDS and writes it back for the functions', () => {
    const config = configFromEnv({ DOWNSTREAM_URL: BASE.downstreamUrl, IDLE_EXIT_SECONDS: '20' });
    expect(config.idleExitSeconds).toBe(20);
    expect(configToEnv(config).IDLE_EXIT_SECONDS).toBe('20');
    expect(() => configFromEnv({ DOWNSTREAM_URL: BASE.downstreamUrl, IDLE_EXIT_SECONDS: '1m' })).toThrow(
      'Invalid Sluice configuration: IDLE_EXIT_SECONDS (idleExitSeconds) = "1m"; allowed: an integer from 0 to 50.',
    );
  });
});

describe('serviceTimeMetric', () => {
  it("is off by default: empty, so the app's Server-Timing header is ignored", () => {
    expect(DEFAULTS.serviceTimeMetric).toBe('');
    expect(parseConfig(BASE).serviceTimeMetric).toBe('');
    expect(parseConfig({ ...BASE, serviceTimeMetric: '' }).serviceTimeMetric).toBe('');
    expect(parseConfig({ ...BASE, serviceTimeMetric: '  ' }).serviceTimeMetric).toBe('');
  });

  it('takes a metric name (an HTTP token, as core/server-timing.ts reads it)', () => {
    expect(parseConfig({ ...BASE, serviceTimeMetric: 'app' }).serviceTimeMetric).toBe('app');
    expect(parseConfig({ ...BASE, serviceTimeMetric: ' app ' }).serviceTimeMetric).toBe('app');
    expect(
      parseConfig({ ...BASE, serviceTimeMetric: 'process_action.action_controller' }).serviceTimeMetric,
    ).toBe('process_action.action_controller');
  });

  it('rejects anything else, naming the setting and what is allowed', () => {
    for (const bad of ['app;dur=1', 'app, db', '"app"', 'app time', 42, true]) {
      expect(() => parseConfig({ ...BASE, serviceTimeMetric: bad })).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'serviceTimeMetric', value: bad }),
      );
    }
    expect(() => parseConfig({ ...BASE, serviceTimeMetric: 'app;dur=1' })).toThrow(
      'Invalid Sluice configuration: serviceTimeMetric = "app;dur=1"; allowed: empty (off) or a Server-Timing metric name such as app: 1 to 64 letters, digits or !#$%&\'*+-.^_`|~.',
    );
  });

  it('reads SERVICE_TIME_METRIC and writes it back for the functions', () => {
    const config = configFromEnv({ DOWNSTREAM_URL: BASE.downstreamUrl, SERVICE_TIME_METRIC: 'app' });
    expect(config.serviceTimeMetric).toBe('app');
    expect(configToEnv(config).SERVICE_TIME_METRIC).toBe('app');
    expect(configFromEnv({ DOWNSTREAM_URL: BASE.downstreamUrl }).serviceTimeMetric).toBe('');
    expect(() =>
      configFromEnv({ DOWNSTREAM_URL: BASE.downstreamUrl, SERVICE_TIME_METRIC: 'app;dur' }),
    ).toThrow(
      /SERVICE_TIME_METRIC \(serviceTimeMetric\) = "app;dur"; allowed: empty \(off\) or a Server-Timing metric name/,
    );
  });
});

describe('appConfig (CDK context and sluice.config.json)', () => {
  const dirs: string[] = [];
  const emptyDir = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-config-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it.each(INVALID)('rejects -c %s=%j the same way', (field, value, allowed) => {
    // -c always gives strings; a list or number given as a string must fail the same way.
    const context: Record<string, unknown> = field === 'downstreamUrl' ? {} : { ...BASE };
    if (value !== undefined) context[field] = Array.isArray(value) ? value : String(value);
    if (field === 'allowedShops' && Array.isArray(value)) return; // not expressible with -c
    // 42 given with -c is the string "42": not a URL rather than not a string.
    const expected = allowed === 'URL is required' ? 'absolute http' : allowed;
    expect(() => appConfig(context, emptyDir())).toThrow(expect.objectContaining({ field }));
    expect(() => appConfig(context, emptyDir())).toThrow(expected);
  });

  it('fails plain `cdk synth` (no downstreamUrl) with a ConfigError naming downstreamUrl', () => {
    expect(() => appConfig({}, emptyDir())).toThrow(
      'Invalid Sluice configuration: downstreamUrl = undefined; this field is required.',
    );
  });

  it('ignores CDK feature flags and CLI keys in the context', () => {
    const config = appConfig(
      { ...BASE, '@aws-cdk/core:enablePartitionLiterals': true, 'cli-telemetry': false, stackName: 'S' },
      emptyDir(),
    );
    expect(config.downstreamUrl).toBe('https://app.example.com');
  });

  it.each([
    ['rate_ceiling_per_second', 'rateCeilingPerSecond'],
    ['downstream-url', 'downstreamUrl'],
    ['STACK_NAME', 'stackName'],
  ])('refuses -c %s=… naming the field it meant (%s) instead of ignoring it', (key, meant) => {
    const attempt = (): unknown => appConfig({ ...BASE, [key]: '5' }, emptyDir());
    expect(attempt).toThrow(expect.objectContaining({ field: key }));
    expect(attempt).toThrow(`the field is spelled ${meant}`);
  });

  it('still ignores kebab-case keys that name no field (CDK CLI options)', () => {
    const config = appConfig({ ...BASE, 'acknowledged-issue-numbers': [1], 'build-id': 'x' }, emptyDir());
    expect(config.downstreamUrl).toBe('https://app.example.com');
  });

  it('reads sluice.config.json and lets context override it', () => {
    const dir = emptyDir();
    writeFileSync(
      path.join(dir, 'sluice.config.json'),
      JSON.stringify({ ...BASE, orderingKey: 'global', maxInFlight: 8 }),
    );
    const config = appConfig({ maxInFlight: '4' }, dir);
    expect([config.orderingKey, config.maxInFlight]).toEqual(['global', 4]);
  });

  it('rejects a config file that is not a JSON object, naming configFile', () => {
    const dir = emptyDir();
    writeFileSync(path.join(dir, 'bad.json'), '[1,2]');
    expect(() => appConfig({ configFile: 'bad.json' }, dir)).toThrow(
      expect.objectContaining({ field: 'configFile' }),
    );
    expect(() => appConfig({ configFile: 'missing.json' }, dir)).toThrow(
      expect.objectContaining({ field: 'configFile' }),
    );
  });

  it('carries the validated values into the stack', () => {
    const config = appConfig(
      {
        ...BASE,
        orderingKey: 'shop-topic',
        allowedTopics: 'orders/create,orders/paid',
        idleExitSeconds: '20',
        serviceTimeMetric: 'app',
      },
      emptyDir(),
    );
    const t = Template.fromStack(new SluiceStack(fastApp(), 'C', { config }));
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          ORDERING_KEY: 'shop-topic',
          ALLOWED_TOPICS: 'orders/create,orders/paid',
          IDLE_EXIT_SECONDS: '20',
          SERVICE_TIME_METRIC: 'app',
        },
      },
    });
    // The drainer function (the one with reserved concurrency 1) is the one that reads the service time.
    t.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: {
        Variables: Match.objectLike({ SERVICE_TIME_METRIC: 'app', QUEUE_URL: Match.anyValue() }),
      },
    });
  });
});
