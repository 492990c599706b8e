/**
 * Embedded AWS emulators on loopback: fauxqs (SQS and S3) and dynalite (DynamoDB), with the queue, DLQ,
 * table and bucket created as the stack creates them. Used by `npm start` and by the integration tests.
 */
import type { AddressInfo } from 'node:net';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import dynalite from 'dynalite';
import { QUEUE, TABLE } from '../core/resources';

/** Credentials the emulators accept; never real ones. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

export interface Emulators {
  /** fauxqs serves both SQS and S3. */
  readonly sqsEndpoint: string;
  readonly s3Endpoint: string;
  readonly dynamoEndpoint: string;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** 0 picks a free port. @default 0 */
  readonly sqsPort?: number;
  /** @default 0 */
  readonly dynamoPort?: number;
  /** Directory for dynalite's LevelDB files; in memory when absent. */
  readonly dynamoPath?: string;
}

/** Starts fauxqs and dynalite on 127.0.0.1. */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  // fauxqs ships ES modules only; a dynamic import loads it from CommonJS.
  const { startFauxqs } = await import('fauxqs');
  const fauxqs = await startFauxqs({ port: options.sqsPort ?? 0, host: 'localhost', logger: false });
  const dynamo = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.dynamoPath ? { path: options.dynamoPath } : {}),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      dynamo.once('error', reject);
      dynamo.listen(options.dynamoPort ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await fauxqs.stop();
    throw err;
  }
  const dynamoPort = (dynamo.address() as AddressInfo).port;
  const sqsEndpoint = `http://127.0.0.1:${fauxqs.port}`;
  return {
    sqsEndpoint,
    s3Endpoint: sqsEndpoint,
    dynamoEndpoint: `http://127.0.0.1:${dynamoPort}`,
    async stop() {
      await fauxqs.stop();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}

/** SDK clients pointed at the emulators. */
export interface LocalClients {
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBClient;
  readonly s3: S3Client;
}

export function localClients(
  emulators: Pick<Emulators, 'sqsEndpoint' | 's3Endpoint' | 'dynamoEndpoint'>,
): LocalClients {
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  return {
    sqs: new SQSClient({ ...base, endpoint: emulators.sqsEndpoint }),
    dynamo: new DynamoDBClient({ ...base, endpoint: emulators.dynamoEndpoint }),
    s3: new S3Client({ ...base, endpoint: emulators.s3Endpoint, forcePathStyle: true }),
  };
}

/** Names of the resources local mode creates. */
export interface ResourceNames {
  /** Without `.fifo`. @default 'sluice-webhooks' */
  readonly queue?: string;
  /** @default 'sluice-state' */
  readonly table?: string;
  /** @default 'sluice-bodies' */
  readonly bucket?: string;
}

export interface LocalResources {
  readonly queueUrl: string;
  readonly queueName: string;
  readonly dlqUrl: string;
  readonly dlqName: string;
  readonly tableName: string;
  readonly bucketName: string;
}

/** Every item of a table, page by page (local tables only: a few thousand items at most). */
async function scanAll(dynamo: DynamoDBClient, tableName: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const out = await dynamo.send(
      new ScanCommand({ TableName: tableName, ...(startKey ? { ExclusiveStartKey: startKey } : {}) }),
    );
    items.push(...(out.Items ?? []));
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/**
 * Creates the FIFO queue with its FIFO DLQ and redrive policy, the state table and the body bucket, with the
 * settings of `core/resources` that the stack also uses. Idempotent: existing resources are reused.
 */
export async function createResources(
  clients: LocalClients,
  names: ResourceNames = {},
): Promise<LocalResources> {
  const queueName = `${names.queue ?? 'sluice-webhooks'}.fifo`;
  const dlqName = `${names.queue ?? 'sluice-webhooks'}-dlq.fifo`;
  const tableName = names.table ?? 'sluice-state';
  const bucketName = names.bucket ?? 'sluice-bodies';
  const common = {
    FifoQueue: 'true',
    MessageRetentionPeriod: String(QUEUE.retentionSeconds),
    DeduplicationScope: 'messageGroup',
    FifoThroughputLimit: 'perMessageGroupId',
  };
  const dlq = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: dlqName,
      Attributes: { ...common, MaximumMessageSize: String(QUEUE.deadLetterMaxMessageBytes) },
    }),
  );
  const dlqUrl = dlq.QueueUrl!;
  const dlqAttrs = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const queue = await clients.sqs.send(
    new CreateQueueCommand({
      QueueName: queueName,
      Attributes: {
        ...common,
        MaximumMessageSize: String(QUEUE.maxMessageBytes),
        VisibilityTimeout: String(QUEUE.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqAttrs.Attributes?.QueueArn,
          maxReceiveCount: QUEUE.maxReceiveCount,
        }),
      },
    }),
  );
  const deadLetterIndex = {
    IndexName: TABLE.deadLetterIndex,
    KeySchema: [
      { AttributeName: TABLE.deadLetterIndexPartition, KeyType: 'HASH' as const },
      { AttributeName: TABLE.deadLetterIndexSort, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  };
  const indexAttributes = [
    { AttributeName: TABLE.deadLetterIndexPartition, AttributeType: 'S' as const },
    { AttributeName: TABLE.deadLetterIndexSort, AttributeType: 'S' as const },
  ];
  const tableSpec = {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: TABLE.partitionKey, AttributeType: 'S' as const },
      ...indexAttributes,
    ],
    KeySchema: [{ AttributeName: TABLE.partitionKey, KeyType: 'HASH' as const }],
    GlobalSecondaryIndexes: [deadLetterIndex],
    BillingMode: 'PAY_PER_REQUEST' as const,
  };
  try {
    await clients.dynamo.send(new CreateTableCommand(tableSpec));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  const described = await clients.dynamo.send(new DescribeTableCommand({ TableName: tableName }));
  const indexes = described.Table?.GlobalSecondaryIndexes ?? [];
  if (!indexes.some((i) => i.IndexName === TABLE.deadLetterIndex)) {
    // A table kept on disk (--state) from before the dead-letter index. A deploy adds the index in place;
    // dynalite cannot (UpdateTable creates no index), so the table is rebuilt with it, items and all.
    const items = await scanAll(clients.dynamo, tableName);
    await clients.dynamo.send(new DeleteTableCommand({ TableName: tableName }));
    await clients.dynamo.send(new CreateTableCommand(tableSpec));
    for (let i = 0; i < items.length; i += 25) {
      let requests = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      // dynalite processes whole batches; the bound only guards against a loop on a misbehaving store.
      for (let attempt = 0; requests.length > 0 && attempt < 10; attempt++) {
        const out = await clients.dynamo.send(
          new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
        );
        requests = (out.UnprocessedItems?.[tableName] ?? []).flatMap((r) =>
          r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
        );
      }
      if (requests.length > 0)
        throw new Error(`could not copy ${requests.length} item(s) back into ${tableName}`);
    }
  }
  try {
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
  return { queueUrl: queue.QueueUrl!, queueName, dlqUrl, dlqName, tableName, bucketName };
}
