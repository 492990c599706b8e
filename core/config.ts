/**
 * Sluice's one typed configuration (DESIGN §7). The stack reads it from CDK context, local mode from the
 * environment; both go through `parseConfig`, so names, defaults and errors are the same everywhere.
 */
import { ORDERING_KEYS, type OrderingKey } from './contract';
import { TOPIC } from './screening';
import { METRIC_NAME } from './server-timing';

export interface SluiceConfig {
  /** Base URL of the app; each webhook goes to this URL + its original path and query. Required. */
  readonly downstreamUrl: string;
  /** Secrets Manager name of the Shopify client secret(s) ("new,old" during a rotation). @default created by the stack */
  readonly secretName?: string;
  /** Ordering group: `resource`, `shop`, `shop-topic`, `global` or `none`. @default 'resource' */
  readonly orderingKey: OrderingKey;
  /** Shop domains allowed at the edge; empty allows any `*.myshopify.com`. @default [] */
  readonly allowedShops: readonly string[];
  /** Topics allowed at the edge; empty allows any. @default [] */
  readonly allowedTopics: readonly string[];
  /** Lowest delivery rate the pacer may choose, requests/s. @default 1 */
  readonly rateFloorPerSecond: number;
  /** Highest delivery rate the pacer may choose, requests/s. @default 200 */
  readonly rateCeilingPerSecond: number;
  /** Most requests in flight to the app at once (across ordering groups). @default 32 */
  readonly maxInFlight: number;
  /** Delivery attempts before a failing webhook goes to the DLQ and its group moves on. @default 100 */
  readonly maxAttempts: number;
  /** Minutes a webhook may keep failing before it goes to the DLQ. @default 1440 (24 h) */
  readonly maxRetryMinutes: number;
  /** Time the app has to answer one delivery, ms. @default 10000 */
  readonly downstreamTimeoutMs: number;
  /**
   * End a drainer run once nothing is held and the queue has been empty this long, seconds; 0 keeps polling
   * until the run's end. Saves idle Lambda time; a webhook arriving after the exit waits for the next
   * minute's run (up to about 60 − idleExitSeconds s). @default 0
   */
  readonly idleExitSeconds: number;
  /**
   * The metric of the app's `Server-Timing` answer header that gives its processing time of each request
   * (`app` for `Server-Timing: app;dur=47.2`); the pacer then sizes its window on the app's own service time
   * instead of estimating it from round trips. Empty: the header is ignored. @default ''
   */
  readonly serviceTimeMetric: string;
  /** Route every webhook through the verifying Lambda (401 on forgeries everywhere, bodies over 1 MiB). @default false */
  readonly verifyAllRoutes: boolean;
  /** E-mail address subscribed to the alarm topic. @default none */
  readonly alarmEmail?: string;
  /** Existing SNS topic ARN for alarms. @default a topic is created when alarmEmail is set */
  readonly alarmTopicArn?: string;
  /** Alarm when the oldest queued webhook is older than this, minutes. @default 15 */
  readonly oldestAgeAlarmMinutes: number;
  /** Alarm when this many signature failures happen in 5 minutes. @default 10 */
  readonly signatureFailureAlarmCount: number;
}

/** Longest idle exit: under the one-minute schedule (a run stops taking work ~12 s before its end anyway). */
export const MAX_IDLE_EXIT_SECONDS = 50;

/**
 * Allowed `downstreamTimeoutMs`, ms (the CLI's `cost --downstream-timeout-ms` takes the same). At most the
 * longest wind-down of a run less 2 s (core/schedule.ts): a request must be answered or given up before its run
 * ends, or the next run would send the group's next webhook while the app still works on it. Shopify itself
 * waits 5 s for an answer, so apps are built to answer well within that.
 */
export const DOWNSTREAM_TIMEOUT_MS = { min: 100, max: 18_000 } as const;

/** One configuration field: where it is read from and how it is checked. */
interface Field {
  readonly key: keyof SluiceConfig;
  /** Environment variable (local mode and the Lambda functions). */
  readonly env: string;
  readonly kind: 'url' | 'string' | 'token' | 'list' | 'number' | 'boolean' | 'ordering';
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** Every field, in the order the README's configuration table lists them. */
export const FIELDS: readonly Field[] = [
  { key: 'downstreamUrl', env: 'DOWNSTREAM_URL', kind: 'url', required: true },
  { key: 'secretName', env: 'SECRET_NAME', kind: 'string' },
  { key: 'orderingKey', env: 'ORDERING_KEY', kind: 'ordering' },
  { key: 'allowedShops', env: 'ALLOWED_SHOPS', kind: 'list' },
  { key: 'allowedTopics', env: 'ALLOWED_TOPICS', kind: 'list' },
  { key: 'rateFloorPerSecond', env: 'RATE_FLOOR', kind: 'number', min: 0.1, max: 10_000 },
  { key: 'rateCeilingPerSecond', env: 'RATE_CEILING', kind: 'number', min: 0.1, max: 10_000 },
  { key: 'maxInFlight', env: 'MAX_IN_FLIGHT', kind: 'number', min: 1, max: 1_000, integer: true },
  { key: 'maxAttempts', env: 'MAX_ATTEMPTS', kind: 'number', min: 1, max: 100_000, integer: true },
  { key: 'maxRetryMinutes', env: 'MAX_RETRY_MINUTES', kind: 'number', min: 1, max: 20_160 },
  {
    key: 'downstreamTimeoutMs',
    env: 'DOWNSTREAM_TIMEOUT_MS',
    kind: 'number',
    min: DOWNSTREAM_TIMEOUT_MS.min,
    max: DOWNSTREAM_TIMEOUT_MS.max,
    integer: true,
  },
  {
    key: 'idleExitSeconds',
    env: 'IDLE_EXIT_SECONDS',
    kind: 'number',
    min: 0,
    max: MAX_IDLE_EXIT_SECONDS,
    integer: true,
  },
  { key: 'serviceTimeMetric', env: 'SERVICE_TIME_METRIC', kind: 'token' },
  { key: 'verifyAllRoutes', env: 'VERIFY_ALL_ROUTES', kind: 'boolean' },
  { key: 'alarmEmail', env: 'ALARM_EMAIL', kind: 'string' },
  { key: 'alarmTopicArn', env: 'ALARM_TOPIC_ARN', kind: 'string' },
  { key: 'oldestAgeAlarmMinutes', env: 'OLDEST_AGE_ALARM_MINUTES', kind: 'number', min: 1, max: 20_160 },
  {
    key: 'signatureFailureAlarmCount',
    env: 'SIGNATURE_FAILURE_ALARM_COUNT',
    kind: 'number',
    min: 1,
    integer: true,
  },
];

export const DEFAULTS = {
  orderingKey: 'resource',
  allowedShops: [],
  allowedTopics: [],
  rateFloorPerSecond: 1,
  rateCeilingPerSecond: 200,
  maxInFlight: 32,
  maxAttempts: 100,
  maxRetryMinutes: 1440,
  downstreamTimeoutMs: 10_000,
  idleExitSeconds: 0,
  serviceTimeMetric: '',
  verifyAllRoutes: false,
  oldestAgeAlarmMinutes: 15,
  signatureFailureAlarmCount: 10,
} as const satisfies Partial<SluiceConfig>;

/** A configuration value that is not allowed: names the field, the value and what is allowed. */
export class ConfigError extends Error {
  readonly code = 'config';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly allowed: string,
  ) {
    super(`Invalid Sluice configuration: ${field} = ${JSON.stringify(value)}; ${allowed}.`);
    this.name = 'ConfigError';
  }
}

const SHOP = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
/** A secret's complete ARN, as the console shows it: its name and the 6 characters Secrets Manager adds. */
export const SECRET_COMPLETE_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function read(field: Field, raw: unknown): unknown {
  const name = field.key;
  switch (field.kind) {
    case 'url': {
      if (typeof raw !== 'string' || raw.trim() === '') {
        throw new ConfigError(name, raw, 'an http(s) URL is required');
      }
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new ConfigError(name, raw, 'allowed: an absolute http:// or https:// URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new ConfigError(name, raw, 'allowed: an absolute http:// or https:// URL');
      }
      if (url.search || url.hash)
        throw new ConfigError(name, raw, 'allowed: a base URL without query or fragment');
      return raw.replace(/\/+$/, '');
    }
    case 'string':
      if (typeof raw !== 'string' || raw.trim() === '')
        throw new ConfigError(name, raw, 'allowed: a non-empty string');
      return raw.trim();
    case 'token':
      // A Server-Timing metric name (core/server-timing.ts); blank is off, like empty.
      if (typeof raw === 'string' && raw.trim() === '') return '';
      if (typeof raw !== 'string' || !METRIC_NAME.test(raw.trim()))
        throw new ConfigError(
          name,
          raw,
          "allowed: empty (off) or a Server-Timing metric name such as app: 1 to 64 letters, digits or !#$%&'*+-.^_`|~",
        );
      return raw.trim();
    case 'list': {
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === 'string'
          ? raw
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : undefined;
      if (!items || items.some((s) => typeof s !== 'string')) {
        throw new ConfigError(name, raw, 'allowed: a list of strings or a comma-separated string');
      }
      const pattern = name === 'allowedShops' ? SHOP : TOPIC;
      const bad = items.find((s) => !pattern.test(String(s)));
      if (bad !== undefined) {
        throw new ConfigError(
          name,
          bad,
          name === 'allowedShops'
            ? 'allowed: shop domains like my-store.myshopify.com'
            : 'allowed: topics like products/update, customer.tags_added or Product',
        );
      }
      return items.map(String);
    }
    case 'number': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && raw.trim() !== ''
            ? Number(raw)
            : Number.NaN;
      const range = `allowed: ${field.integer ? 'an integer' : 'a number'} from ${field.min ?? '-∞'} to ${field.max ?? '∞'}`;
      if (!Number.isFinite(n) || (field.integer && !Number.isInteger(n)))
        throw new ConfigError(name, raw, range);
      if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max)) {
        throw new ConfigError(name, raw, range);
      }
      return n;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new ConfigError(name, raw, 'allowed: true or false');
    case 'ordering':
      if (typeof raw === 'string' && (ORDERING_KEYS as readonly string[]).includes(raw)) return raw;
      throw new ConfigError(name, raw, `allowed: ${ORDERING_KEYS.join(', ')}`);
  }
}

/**
 * Validates a configuration given by field name (CDK context, a config file, or flags).
 * Unknown fields are errors too, so a typo never silently falls back to a default.
 */
export function parseConfig(input: Readonly<Record<string, unknown>>): SluiceConfig {
  const known = new Set<string>(FIELDS.map((f) => f.key));
  for (const key of Object.keys(input)) {
    if (!known.has(key))
      throw new ConfigError(key, input[key], `unknown field; allowed: ${[...known].join(', ')}`);
  }
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const field of FIELDS) {
    const raw = input[field.key];
    if (raw === undefined || raw === null || raw === '') {
      if (field.required) throw new ConfigError(field.key, raw, 'this field is required');
      continue;
    }
    out[field.key] = read(field, raw);
  }
  const config = out as unknown as SluiceConfig;
  if (config.rateFloorPerSecond > config.rateCeilingPerSecond) {
    throw new ConfigError(
      'rateFloorPerSecond',
      config.rateFloorPerSecond,
      `must not exceed rateCeilingPerSecond (${config.rateCeilingPerSecond})`,
    );
  }
  if (config.alarmEmail !== undefined && !EMAIL.test(config.alarmEmail)) {
    throw new ConfigError('alarmEmail', config.alarmEmail, 'allowed: an e-mail address');
  }
  if (config.secretName?.startsWith('arn:') && !SECRET_COMPLETE_ARN.test(config.secretName)) {
    throw new ConfigError(
      'secretName',
      config.secretName,
      "allowed: the secret's name, or its complete ARN as the console shows it (ending in - and 6 characters)",
    );
  }
  if (config.alarmTopicArn !== undefined && !config.alarmTopicArn.startsWith('arn:')) {
    throw new ConfigError('alarmTopicArn', config.alarmTopicArn, 'allowed: an SNS topic ARN');
  }
  return config;
}

/** Reads the configuration from environment variables (local mode, Lambda functions). */
export function configFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  overrides: Readonly<Record<string, unknown>> = {},
): SluiceConfig {
  const input: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const v = env[field.env];
    if (v !== undefined && v !== '') input[field.key] = v;
  }
  try {
    return parseConfig({ ...input, ...overrides });
  } catch (e) {
    // Name the variable the user set, not only the configuration key it feeds.
    if (!(e instanceof ConfigError)) throw e;
    const field = FIELDS.find((f) => f.key === e.field);
    if (!field || e.field in overrides || env[field.env] === undefined || env[field.env] === '') throw e;
    throw new ConfigError(`${field.env} (${field.key})`, e.value, e.allowed);
  }
}

/** The environment variables that carry `config` to a Lambda function or a child process. */
export function configToEnv(config: SluiceConfig): Record<string, string> {
  const env: Record<string, string> = {};
  for (const field of FIELDS) {
    const v = config[field.key];
    if (v === undefined) continue;
    env[field.env] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return env;
}
