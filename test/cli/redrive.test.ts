/**
 * `dlq redrive` against SQS FIFO as AWS runs it, at the SDK: one receive may return several messages of a group,
 * in order (fauxqs returns one per group, so the local tests cannot show it), and a send can fail.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { redrive } from '../../cli/dlq';
import { ATTR } from '../../core/contract';
import { FAILURE_ATTRIBUTE } from '../../core/resources';

const QUEUE = 'https://sqs.eu-west-1.amazonaws.com/1/q.fifo';
const DLQ = 'https://sqs.eu-west-1.amazonaws.com/1/dlq.fifo';

interface Stored {
  readonly id: string;
  readonly group: string;
  readonly body: string;
  readonly attributes: Message['MessageAttributes'];
  handle?: string;
}

/**
 * A FIFO queue model: a receive returns, for each group with nothing in flight, its messages in order (up to
 * 10 in all); a received message stays in flight until deleted or handed back.
 */
class FifoModel {
  readonly queues = new Map<string, Stored[]>([
    [QUEUE, []],
    [DLQ, []],
  ]);
  readonly log: string[] = [];
  private n = 0;

  add(url: string, group: string, body: string, attributes: Message['MessageAttributes']): string {
    const id = `m-${++this.n}`;
    this.queues.get(url)!.push({ id, group, body, attributes });
    return id;
  }

  receive(url: string, max: number): Message[] {
    const q = this.queues.get(url)!;
    const busy = new Set(q.filter((m) => m.handle).map((m) => m.group));
    const out: Message[] = [];
    for (const m of q) {
      if (out.length >= max) break;
      if (m.handle || busy.has(m.group)) continue;
      // This group's messages go out together, in order, until the batch is full.
      m.handle = `h-${m.id}-${++this.n}`;
      out.push({
        MessageId: m.id,
        ReceiptHandle: m.handle,
        Body: m.body,
        Attributes: { MessageGroupId: m.group },
        MessageAttributes: m.attributes,
      });
    }
    for (const m of out) busy.add(m.Attributes!.MessageGroupId!);
    return out;
  }

  delete(url: string, handle: string): void {
    const q = this.queues.get(url)!;
    const i = q.findIndex((m) => m.handle === handle);
    if (i < 0) throw new Error('ReceiptHandleIsInvalid');
    this.log.push(`delete ${q[i]!.body}`);
    q.splice(i, 1);
  }

  handBack(url: string, handle: string): void {
    for (const m of this.queues.get(url)!) if (m.handle === handle) m.handle = undefined;
  }
}

const sqsMock = mockClient(SQSClient);

function setup(failSendOf?: string) {
  const model = new FifoModel();
  sqsMock.reset();
  sqsMock.on(ReceiveMessageCommand).callsFake((input) => ({
    Messages: model.receive(input.QueueUrl, input.MaxNumberOfMessages ?? 1),
  }));
  sqsMock.on(SendMessageCommand).callsFake((input) => {
    if (input.MessageBody === failSendOf) throw new Error('ServiceUnavailable');
    model.log.push(`send ${input.MessageBody} to ${input.QueueUrl === QUEUE ? 'queue' : 'dlq'}`);
    return {
      MessageId: model.add(input.QueueUrl, input.MessageGroupId, input.MessageBody, input.MessageAttributes),
    };
  });
  sqsMock.on(DeleteMessageCommand).callsFake((input) => {
    model.delete(input.QueueUrl, input.ReceiptHandle);
    return {};
  });
  sqsMock.on(ChangeMessageVisibilityBatchCommand).callsFake((input) => {
    for (const e of input.Entries) model.handBack(input.QueueUrl, e.ReceiptHandle);
    return { Successful: input.Entries.map((e: { Id: string }) => ({ Id: e.Id })), Failed: [] };
  });
  sqsMock.on(GetQueueAttributesCommand).callsFake((input) => ({
    Attributes: { ApproximateNumberOfMessages: String(model.queues.get(input.QueueUrl)!.length) },
  }));
  const deadLetter = (group: string, body: string) =>
    model.add(DLQ, group, body, {
      [ATTR.webhookId]: { DataType: 'String', StringValue: `wh-${body}` },
      [FAILURE_ATTRIBUTE]: {
        DataType: 'String',
        StringValue: JSON.stringify({
          reason: 'exhausted',
          attempts: 3,
          failedAt: 1_000,
          messageId: `q-${body}`,
        }),
      },
    });
  const limits = { limit: 100, budgetMs: 60_000, now: () => 0 };
  return {
    model,
    deadLetter,
    run: () => redrive(new SQSClient({ region: 'eu-west-1' }), { queueUrl: QUEUE, dlqUrl: DLQ }, {}, limits),
  };
}

describe('dlq redrive against SQS FIFO batches', () => {
  it('sends a group back in its order when one receive returns several of its messages', async () => {
    const h = setup();
    for (const b of ['a1', 'a2', 'a3']) h.deadLetter('shop-a', b);
    h.deadLetter('shop-b', 'b1');

    const result = await h.run();

    expect(result.redriven.map((e) => e.webhookId)).toEqual(['wh-a1', 'wh-a2', 'wh-a3', 'wh-b1']);
    const back = h.model.queues.get(QUEUE)!;
    expect(back.filter((m) => m.group === 'shop-a').map((m) => m.body)).toEqual(['a1', 'a2', 'a3']);
    // Without the reason it was dead-lettered for; the rest of its attributes as they were.
    for (const m of back) {
      expect(m.attributes).not.toHaveProperty(FAILURE_ATTRIBUTE);
      expect(m.attributes?.[ATTR.webhookId]?.StringValue).toBe(`wh-${m.body}`);
    }
    expect(h.model.queues.get(DLQ)).toEqual([]);
  });

  it('deletes a dead letter only after its send, and keeps the rest of its group behind one that fails', async () => {
    const h = setup('a2');
    for (const b of ['a1', 'a2', 'a3']) h.deadLetter('shop-a', b);
    h.deadLetter('shop-b', 'b1');

    const result = await h.run();

    expect(result.failed.map((f) => f.error)).toEqual(['ServiceUnavailable']);
    expect(h.model.queues.get(QUEUE)!.map((m) => m.body)).toEqual(['a1', 'b1']);
    // a2 could not be sent, so neither it nor a3 behind it left the DLQ, and both are visible again, in order.
    expect(h.model.queues.get(DLQ)!.map((m) => [m.body, m.handle])).toEqual([
      ['a2', undefined],
      ['a3', undefined],
    ]);
    expect(h.model.log.indexOf('delete a1')).toBeGreaterThan(h.model.log.indexOf('send a1 to queue'));
    expect(h.model.log).not.toContain('delete a2');
  });
});
