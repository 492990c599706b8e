// Finds what a CLI command acts on: a deployed stack (by its CloudFormation outputs) or a running `npm start`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_STATE_FILE, type LocalEndpoints, OUTPUTS } from '../core/resources';
import { type GlobalOptions, OperationError, UsageError } from './io';

/** The resources a command needs, with SDK clients already pointed at them. */
export interface Target {
  readonly kind: 'stack' | 'local';
  /** Stack name, or the state file's path. */
  readonly label: string;
  readonly region: string;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  /** Only for a deployed stack: local mode has no CloudWatch. */
  readonly cloudwatch?: CloudWatchClient;
  readonly queueUrl: string;
  readonly queueName: string;
  readonly dlqUrl: string;
  readonly dlqName: string;
  readonly tableName: string;
  readonly drainerFunctionName?: string;
  readonly dashboardUrl?: string;
  /** Local mode only: the SQS emulator's endpoint (its inspection API shows messages without receiving them). */
  readonly sqsEndpoint?: string;
  /** Value of the `service` dimension on Sluice's metrics (the stack name). @default 'sluice' */
  readonly serviceName?: string;
  /** Deployed stacks: the Shopify secret, so `status` can say whether it is set (never what it holds). */
  readonly secret?: { readonly client: SecretsManagerClient; readonly secretId: string };
}

/** Dummy credentials for the emulators (never real ones). */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** Queue name from a queue URL (`…/000000000000/sluice-webhooks.fifo`). */
export const queueNameOf = (url: string): string => url.slice(url.lastIndexOf('/') + 1);

/** Resolves `--stack`, `--local` and `--state-file` into a target; exactly one of stack or local is required. */
export async function resolveTarget(options: GlobalOptions, env: GlobalEnv): Promise<Target> {
  const local = options.local === true || options.stateFile !== undefined;
  if (local && options.stack) throw new UsageError('give either --stack <name> or --local, not both');
  if (local) {
    if (options.stateFile === '') throw new UsageError('--state-file needs a path');
    const given = options.stateFile ?? env.SLUICE_LOCAL_FILE;
    // The default file is where `npm start` ran: the project's folder, which may be above this one.
    return localTarget(given || findUp(LOCAL_STATE_FILE) || LOCAL_STATE_FILE, env);
  }
  const stack = options.stack ?? env.SLUICE_STACK;
  if (!stack) {
    throw new UsageError(
      'which Sluice? give --stack <name> (the deployed CloudFormation stack, or set SLUICE_STACK) or --local (a running npm start)',
    );
  }
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? (await profileRegion());
  return stackTarget(stack, region);
}

/**
 * The region the AWS SDK finds on its own: the `region` of the profile in the shared config file
 * (`AWS_PROFILE`, `AWS_CONFIG_FILE`), as for `cdk deploy`. The SDK reads these from the process environment.
 */
async function profileRegion(): Promise<string | undefined> {
  try {
    return (await new CloudFormationClient({}).config.region()) || undefined;
  } catch {
    return undefined;
  }
}

/** The environment variables the CLI reads. */
export type GlobalEnv = Readonly<Record<string, string | undefined>>;

/**
 * `rel` resolved in the working folder or the nearest folder above it that has it, if any, up to the project's
 * own folder (the first with a package.json): never another project's file, nor one in the home folder.
 */
function findUp(rel: string): string | undefined {
  for (let dir = resolve('.'); ; dir = dirname(dir)) {
    const candidate = join(dir, rel);
    if (existsSync(candidate)) return candidate;
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) return undefined;
  }
}

function localTarget(path: string, env: GlobalEnv): Target {
  const file = resolve(path);
  if (!existsSync(file)) {
    throw new UsageError(
      `no local Sluice: ${file} does not exist; start one with \`npm start\` or give --state-file`,
    );
  }
  const state = parseLocalEndpoints(readFileSync(file, 'utf8'), file);
  if (!isAlive(state.pid) && env.SLUICE_SKIP_PID_CHECK !== '1') {
    throw new UsageError(
      `the local Sluice that wrote ${file} (pid ${state.pid}) is not running; start it with \`npm start\``,
    );
  }
  const base = { region: state.region, credentials: LOCAL_CREDENTIALS };
  return {
    kind: 'local',
    label: file,
    region: state.region,
    sqs: new SQSClient({ ...base, endpoint: state.sqsEndpoint }),
    dynamo: new DynamoDBClient({ ...base, endpoint: state.dynamoEndpoint }),
    queueUrl: state.queueUrl,
    queueName: queueNameOf(state.queueUrl),
    dlqUrl: state.dlqUrl,
    dlqName: queueNameOf(state.dlqUrl),
    tableName: state.tableName,
    sqsEndpoint: state.sqsEndpoint,
  };
}

/** Validates the local state file written by `npm start`. */
export function parseLocalEndpoints(text: string, file: string): LocalEndpoints {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON`);
  }
  if (typeof raw !== 'object' || raw === null) throw new UsageError(`${file} is not a JSON object`);
  const o = raw as Record<string, unknown>;
  const keys = [
    'apiUrl',
    'sqsEndpoint',
    's3Endpoint',
    'dynamoEndpoint',
    'region',
    'queueUrl',
    'dlqUrl',
    'tableName',
    'bucketName',
  ] as const;
  for (const key of keys) {
    if (typeof o[key] !== 'string' || o[key] === '')
      throw new UsageError(`${file}: field ${key} is missing or not a string`);
  }
  if (typeof o.pid !== 'number') throw new UsageError(`${file}: field pid is missing or not a number`);
  return o as unknown as LocalEndpoints;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function stackTarget(stackName: string, region: string | undefined): Promise<Target> {
  if (!region)
    throw new UsageError(
      'no AWS region: set AWS_REGION, give --region, or set a region in your AWS profile (~/.aws/config)',
    );
  const cfn = new CloudFormationClient({ region });
  let outputs: Record<string, string>;
  // The stack's own name: --stack may be given as its ARN, and the metrics carry the name.
  let name = stackName;
  try {
    const res = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = res.Stacks?.[0];
    if (!stack) throw new UsageError(`stack ${stackName} not found in ${region}`);
    name = stack.StackName ?? stackName;
    outputs = Object.fromEntries(
      (stack.Outputs ?? []).flatMap((o) =>
        o.OutputKey && o.OutputValue ? [[o.OutputKey, o.OutputValue]] : [],
      ),
    );
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (/does not exist/i.test(message)) throw new UsageError(`stack ${stackName} not found in ${region}`);
    throw new OperationError('describe-stacks', `cannot read stack ${stackName}: ${message}`);
  }
  const need = (key: string): string => {
    const v = outputs[key];
    if (!v) throw new UsageError(`stack ${stackName} has no output ${key}: is it a Sluice stack?`);
    return v;
  };
  const queueUrl = need(OUTPUTS.queueUrl);
  const dlqUrl = need(OUTPUTS.deadLetterQueueUrl);
  return {
    kind: 'stack',
    label: stackName,
    region,
    sqs: new SQSClient({ region }),
    dynamo: new DynamoDBClient({ region }),
    cloudwatch: new CloudWatchClient({ region }),
    queueUrl,
    queueName: outputs[OUTPUTS.queueName] ?? queueNameOf(queueUrl),
    dlqUrl,
    dlqName: outputs[OUTPUTS.deadLetterQueueName] ?? queueNameOf(dlqUrl),
    tableName: need(OUTPUTS.tableName),
    ...(outputs[OUTPUTS.drainerFunctionName]
      ? { drainerFunctionName: outputs[OUTPUTS.drainerFunctionName] }
      : {}),
    ...(outputs[OUTPUTS.dashboardUrl] ? { dashboardUrl: outputs[OUTPUTS.dashboardUrl] } : {}),
    ...(outputs[OUTPUTS.secretName]
      ? { secret: { client: new SecretsManagerClient({ region }), secretId: outputs[OUTPUTS.secretName] } }
      : {}),
    // lib/sluice.ts names the metrics' service after the stack.
    serviceName: name,
  };
}
