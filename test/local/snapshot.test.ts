import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createResources, type Emulators, localClients, startEmulators } from '../../local/emulators';
import { readSnapshot, restoreSnapshot, takeSnapshot, writeSnapshot } from '../../local/snapshot';

describe('queue snapshot', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-snapshot-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores queued, in-flight and dead-lettered messages byte-exact, in order, into fresh emulators', async () => {
    const first: Emulators = await startEmulators();
    const a = localClients(first);
    const r1 = await createResources(a);
    const bodies = ['{"id":788032119674292922,"gid":"gid:\\/\\/x"}', 'ünïcödé 日本', 'third', 'fourth'];
    for (const [i, body] of bodies.entries()) {
      await a.sqs.send(
        new SendMessageCommand({
          QueueUrl: r1.queueUrl,
          MessageBody: body,
          MessageGroupId: i % 2 === 0 ? 'shop-a' : 'shop-b',
          MessageDeduplicationId: `d${i}`,
          MessageAttributes: { Hmac: { DataType: 'String', StringValue: `h${i}` } },
        }),
      );
    }
    await a.sqs.send(
      new SendMessageCommand({
        QueueUrl: r1.dlqUrl,
        MessageBody: 'dead',
        MessageGroupId: 'shop-a',
        MessageDeduplicationId: 'dead-1',
        MessageAttributes: { Failure: { DataType: 'String', StringValue: '{"reason":"signature"}' } },
      }),
    );
    // One message held by a consumer: a snapshot must include it.
    await a.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: r1.queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }),
    );
    const file = join(dir, 'queues.json');
    await writeSnapshot(file, await takeSnapshot(first.sqsEndpoint, r1));
    await first.stop();

    const second = await startEmulators();
    const b = localClients(second);
    const r2 = await createResources(b);
    const snapshot = await readSnapshot(file);
    const restored = await restoreSnapshot(b.sqs, r2, snapshot!);

    expect(restored).toEqual({ queued: 4, deadLetters: 1 });
    const got: { body?: string; group?: string; dedup?: string; hmac?: string }[] = [];
    for (let i = 0; i < 10 && got.length < 4; i++) {
      const res = await b.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: r2.queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
        }),
      );
      for (const m of res.Messages ?? []) {
        got.push({
          body: m.Body,
          group: m.Attributes?.MessageGroupId,
          dedup: m.Attributes?.MessageDeduplicationId,
          hmac: m.MessageAttributes?.Hmac?.StringValue,
        });
        await b.sqs.send(new DeleteMessageCommand({ QueueUrl: r2.queueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    expect(got.filter((m) => m.group === 'shop-a').map((m) => m.body)).toEqual([bodies[0], bodies[2]]);
    expect(got.filter((m) => m.group === 'shop-b').map((m) => m.body)).toEqual([bodies[1], bodies[3]]);
    expect(got.find((m) => m.body === bodies[1])).toEqual({
      body: bodies[1],
      group: 'shop-b',
      dedup: 'd1',
      hmac: 'h1',
    });
    const dead = await b.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: r2.dlqUrl, MessageAttributeNames: ['All'] }),
    );
    expect(dead.Messages?.[0]?.MessageAttributes?.Failure?.StringValue).toBe('{"reason":"signature"}');
    await second.stop();
  });

  it('restores many and large messages in batches without changing their order', async () => {
    const emulators = await startEmulators();
    const clients = localClients(emulators);
    const r = await createResources(clients);
    const big = 'b'.repeat(400_000);
    const messages = Array.from({ length: 25 }, (_, i) => ({
      body: i % 7 === 3 ? `${big}${i}` : `m${i}`,
      groupId: i % 2 === 0 ? 'even' : 'odd',
      dedupId: `id-${i}`,
      attributes: { Seq: { DataType: 'String', StringValue: String(i) } },
      sequenceNumber: String(i).padStart(20, '0'),
    }));

    await restoreSnapshot(clients.sqs, r, { version: 1, takenAt: 0, queue: messages, deadLetters: [] });

    const seen: number[] = [];
    for (let i = 0; i < 60 && seen.length < 25; i++) {
      const got = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: r.queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
        }),
      );
      for (const m of got.Messages ?? []) {
        seen.push(Number(m.MessageAttributes?.Seq?.StringValue));
        await clients.sqs.send(
          new DeleteMessageCommand({ QueueUrl: r.queueUrl, ReceiptHandle: m.ReceiptHandle }),
        );
      }
    }
    expect(seen.filter((n) => n % 2 === 0)).toEqual(Array.from({ length: 13 }, (_, i) => i * 2));
    expect(seen.filter((n) => n % 2 === 1)).toEqual(Array.from({ length: 12 }, (_, i) => i * 2 + 1));
    await emulators.stop();
  });

  it('reads no snapshot when the file does not exist', async () => {
    expect(await readSnapshot(join(dir, 'absent.json'))).toBeUndefined();
  });
});
