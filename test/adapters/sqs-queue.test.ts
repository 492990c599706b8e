import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { QueueBatchError, SqsQueue } from '../../adapters/sqs-queue';
import { ATTR, encode, messageBytes } from '../../core/contract';
import { DeadLetterNotDeletedError, type QueuedMessage } from '../../core/ports';
import { type DeadLetterInfo, FAILURE_ATTRIBUTE, QUEUE } from '../../core/resources';
import { createResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';
import { drainAll, enqueue, sendRaw, webhook } from '../helpers/queue';

const failure = (messageId: string): DeadLetterInfo => ({
  reason: 'rejected',
  status: 410,
  detail: 'gone',
  attempts: 1,
  failedAt: 1_764_000_000_000,
  messageId,
});

describe('SqsQueue against fauxqs', () => {
  const { clients } = useEmulators();
  let n = 0;

  const fresh = async () => {
    n++;
    const r = await createResources(clients, {
      queue: `sqs-adapter-${n}`,
      table: `table-${n}`,
      bucket: `bucket-${n}`,
    });
    const queue = new SqsQueue({ client: clients.sqs, queueUrl: r.queueUrl, deadLetterQueueUrl: r.dlqUrl });
    return { r, queue };
  };

  it('returns messages with group, receive count, sent time and every attribute when it receives', async () => {
    const { r, queue } = await fresh();
    await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'w1', shop: 'a.myshopify.com' }]);

    const got = await queue.receive(10, 1, 30);

    expect(got).toHaveLength(1);
    const m = got[0]!;
    expect(m.groupId).toBe('a.myshopify.com');
    expect(m.receiveCount).toBe(1);
    expect(m.sentAt).toBeGreaterThan(0);
    expect(m.body).toBe(webhook({ webhookId: 'w1' }).body);
    expect(m.attributes[ATTR.webhookId]?.StringValue).toBe('w1');
    expect(Object.keys(m.attributes)).toHaveLength(8);
  });

  it('returns [] at once when the signal aborts a long poll, and hands back what the poll still brings', async () => {
    const { r, queue } = await fresh();
    const controller = new AbortController();
    const polling = queue.receive(10, 2, 60, controller.signal);
    controller.abort();

    const got = await polling;
    // The abandoned poll is still open on the server: this message goes to it, and must come back.
    await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'late' }]);
    await queue.settle();

    expect(got).toEqual([]);
    const again = await queue.receive(10, 1, 60);
    expect(again.map((m) => m.attributes[ATTR.webhookId]?.StringValue)).toEqual(['late']);
  });

  it('deletes more than 10 messages in batches of 10', async () => {
    const { r, queue } = await fresh();
    const specs = Array.from({ length: 23 }, (_, i) => ({ webhookId: `d${i}`, shop: `s${i}.myshopify.com` }));
    await enqueue(clients.sqs, r.queueUrl, specs);
    const held: QueuedMessage[] = [];
    for (let i = 0; i < 10 && held.length < 23; i++) held.push(...(await queue.receive(10, 0, 30)));

    await queue.deleteMessages(held.map((m) => m.receiptHandle));

    expect(held).toHaveLength(23);
    await queue.changeVisibility([], 0);
    expect(await queue.receive(10, 0, 30)).toEqual([]);
  });

  it('hands messages back at once when it sets their visibility to 0', async () => {
    const { r, queue } = await fresh();
    await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'v1' }]);
    const [m] = await queue.receive(1, 0, 60);

    await queue.changeVisibility([m!.receiptHandle], 0);

    const again = await queue.receive(1, 1, 60);
    expect(again[0]?.messageId).toBe(m!.messageId);
    expect(again[0]?.receiveCount).toBe(2);
  });

  it('moves a message to the DLQ with its group, body, attributes and the failure, then deletes it', async () => {
    const { r, queue } = await fresh();
    await enqueue(clients.sqs, r.queueUrl, [{ webhookId: 'dl1', shop: 'g.myshopify.com' }]);
    const [m] = await queue.receive(1, 0, 60);

    const receipt = await queue.deadLetter(m!, failure(m!.messageId));

    const dlq = await drainAll(clients.sqs, r.dlqUrl);
    expect(dlq).toHaveLength(1);
    // Where it landed, for the dead-letter index (`dlq list` shows this id, `dlq show` takes it).
    expect(receipt.dlqMessageId).toBe(dlq[0]!.MessageId);
    expect(receipt.sequenceNumber).toMatch(/^\d+$/);
    expect(dlq[0]!.Body).toBe(m!.body);
    expect(dlq[0]!.Attributes?.MessageGroupId).toBe('g.myshopify.com');
    expect(dlq[0]!.MessageAttributes?.[ATTR.webhookId]?.StringValue).toBe('dl1');
    expect(JSON.parse(dlq[0]!.MessageAttributes?.[FAILURE_ATTRIBUTE]?.StringValue ?? '{}')).toEqual(
      failure(m!.messageId),
    );
    expect(await drainAll(clients.sqs, r.queueUrl)).toEqual([]);
  });

  it('dead-letters with its reason a message as large as the webhook queue takes (it refuses a byte more)', async () => {
    const { r, queue } = await fresh();
    const { envelope } = webhook({ webhookId: 'big', shop: 'g.myshopify.com' });
    const m0 = encode(envelope, '', 'shop');
    const room = QUEUE.maxMessageBytes - messageBytes('', m0.attributes);
    const send = (body: string, dedup: string) =>
      sendRaw(clients.sqs, r.queueUrl, body, m0.groupId, dedup, m0.attributes);
    await expect(send('x'.repeat(room + 1), 'over')).rejects.toThrow(/shorter than|too long|size/i);
    await send('x'.repeat(room), 'fits');
    const [m] = await queue.receive(1, 0, 60);

    // The app's answer is the one part of the failure that gives way (here 2,000 bytes of it).
    await queue.deadLetter(m!, { ...failure(m!.messageId), detail: 'é'.repeat(1_000) });

    const [d] = await drainAll(clients.sqs, r.dlqUrl);
    expect(d!.Body).toHaveLength(room);
    const { detail: _gone, ...kept } = failure(m!.messageId);
    expect(JSON.parse(d!.MessageAttributes?.[FAILURE_ATTRIBUTE]?.StringValue ?? '{}')).toEqual(kept);
    expect(await drainAll(clients.sqs, r.queueUrl)).toEqual([]);
  });

  it('keeps the DLQ within 10 attributes when a foreign message already has 10', async () => {
    const { r, queue } = await fresh();
    const attributes = Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`A${i}`, { DataType: 'String', StringValue: `v${i}` }]),
    );
    await clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: r.queueUrl,
        MessageBody: 'foreign',
        MessageGroupId: 'f',
        MessageDeduplicationId: 'f1',
        MessageAttributes: attributes,
      }),
    );
    const [m] = await queue.receive(1, 0, 60);

    await queue.deadLetter(m!, { ...failure(m!.messageId), reason: 'contract' });

    const [d] = await drainAll(clients.sqs, r.dlqUrl);
    expect(Object.keys(d!.MessageAttributes ?? {})).toHaveLength(10);
    const info = JSON.parse(d!.MessageAttributes?.[FAILURE_ATTRIBUTE]?.StringValue ?? '{}');
    expect(info).toMatchObject({ reason: 'contract', droppedAttributes: ['A9'] });
  });
});

describe('SqsQueue batch retries', () => {
  // Mock this one instance only: the fauxqs suite above uses real clients.
  const client = new SQSClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  const sqs = mockClient(client);
  const queue = new SqsQueue({
    client,
    queueUrl: 'https://sqs.example/q.fifo',
    deadLetterQueueUrl: 'https://sqs.example/dlq.fifo',
    retryDelayMs: 1,
  });
  afterEach(() => sqs.reset());

  it('re-sends only the entries that failed on the server side, and succeeds when they pass', async () => {
    sqs
      .on(DeleteMessageBatchCommand)
      .resolvesOnce({ Failed: [{ Id: '1', Code: 'InternalError', SenderFault: false }] })
      .resolves({ Failed: [] });

    await queue.deleteMessages(['h0', 'h1', 'h2']);

    const calls = sqs.commandCalls(DeleteMessageBatchCommand);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.args[0].input.Entries).toEqual([{ Id: '1', ReceiptHandle: 'h1' }]);
  });

  it('throws a non-retryable QueueBatchError when a receipt handle is invalid, without re-sending it', async () => {
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({
      Failed: [{ Id: '0', Code: 'ReceiptHandleIsInvalid', SenderFault: true }],
    });

    const err = await queue.changeVisibility(['stale'], 30).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(QueueBatchError);
    expect((err as QueueBatchError).retryable).toBe(false);
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand)).toHaveLength(1);
  });

  it('gives up after the configured attempts when the server keeps failing', async () => {
    sqs.on(DeleteMessageBatchCommand).resolves({
      Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }],
    });

    await expect(queue.deleteMessages(['h'])).rejects.toMatchObject({ code: 'queue-batch', retryable: true });
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(3);
  });

  it('says so, with where the copy landed, when the DLQ took the message but the delete failed', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'dlq-1', SequenceNumber: '7' });
    sqs.on(DeleteMessageBatchCommand).resolves({
      Failed: [{ Id: '0', Code: 'InternalError', SenderFault: false }],
    });
    const message: QueuedMessage = {
      messageId: 'm-1',
      receiptHandle: 'h',
      groupId: 'g',
      body: '{}',
      attributes: {},
      receiveCount: 1,
      sentAt: 0,
    };

    const err = await queue.deadLetter(message, failure('m-1')).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(DeadLetterNotDeletedError);
    expect(err).toMatchObject({ messageId: 'm-1', receipt: { dlqMessageId: 'dlq-1', sequenceNumber: '7' } });
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(1);
  });

  it('splits 25 handles into batches of 10, 10 and 5', async () => {
    sqs.on(DeleteMessageBatchCommand).resolves({ Failed: [] });

    await queue.deleteMessages(Array.from({ length: 25 }, (_, i) => `h${i}`));

    const sizes = sqs.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input.Entries?.length);
    expect(sizes).toEqual([10, 10, 5]);
  });
});
