/** A drainer in its own process, for the kill test: it runs until killed (SIGKILL, no cleanup at all). */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalResources } from '../../local/emulators';
import { runDrainer } from './harness';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

async function main(): Promise<void> {
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const clients = {
    sqs: new SQSClient({ ...base, endpoint: env('CHILD_SQS_ENDPOINT') }),
    dynamo: new DynamoDBClient({ ...base, endpoint: env('CHILD_DYNAMO_ENDPOINT') }),
    s3: new S3Client({ ...base, endpoint: env('CHILD_SQS_ENDPOINT'), forcePathStyle: true }),
  };
  const resources = JSON.parse(env('CHILD_RESOURCES')) as LocalResources;
  // Bounded even if nobody kills it: 40 s of work at most.
  await runDrainer(clients, resources, env('CHILD_DOWNSTREAM_URL'), { budgetMs: 40_000, idleExitMs: 30_000 });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
