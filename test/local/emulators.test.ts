import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';

describe('local emulators', () => {
  const { clients } = useEmulators();

  it('creates the FIFO queue with a redrive policy to the FIFO DLQ, the table and the bucket', async () => {
    const r = await createResources(clients);
    const attrs = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: r.queueUrl, AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes?.FifoQueue).toBe('true');
    expect(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}').deadLetterTargetArn).toMatch(
      /sluice-webhooks-dlq\.fifo$/,
    );

    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: r.queueUrl,
        MessageBody: 'x',
        MessageGroupId: 'g',
        MessageDeduplicationId: 'd',
      }),
    );
    const got = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: r.queueUrl, WaitTimeSeconds: 1 }),
    );
    expect(got.Messages?.[0]?.Body).toBe('x');

    await clients.dynamo.send(
      new PutItemCommand({ TableName: r.tableName, Item: { pk: { S: 'k' }, v: { N: '1' } } }),
    );
    const item = await clients.dynamo.send(
      new GetItemCommand({ TableName: r.tableName, Key: { pk: { S: 'k' } } }),
    );
    expect(item.Item?.v?.N).toBe('1');

    await clients.s3.send(
      new PutObjectCommand({ Bucket: r.bucketName, Key: 'b', Body: Buffer.from([0, 255, 1]) }),
    );
    const obj = await clients.s3.send(new GetObjectCommand({ Bucket: r.bucketName, Key: 'b' }));
    expect(Buffer.from(await obj.Body!.transformToByteArray())).toEqual(Buffer.from([0, 255, 1]));
  });

  it('reuses existing resources when created twice', async () => {
    const a = await createResources(clients, { queue: 'twice', table: 'twice', bucket: 'twice' });
    const b = await createResources(clients, { queue: 'twice', table: 'twice', bucket: 'twice' });
    expect(b).toEqual(a);
  });
});
