import { GetObjectCommand } from '@aws-sdk/client-s3';
import { type Message, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { CLAIM_CHECK_BODY, decode, MAX_MESSAGE_BYTES } from '../../core/contract';
import { OPEN_RULES } from '../../core/screening';
import { sign } from '../../core/signature';
import { makeVerifyHandler, type VerifyDeps } from '../../lambda/verify';
import { createResources, type LocalResources } from '../../local/emulators';
import { useEmulators } from '../helpers/emulators';
import { BODY, eventsSpelling, proxyEvent, RECEIVED_AT, SECRET, shopifyHeaders } from '../helpers/webhooks';

const parse = (body: string | undefined): Record<string, unknown> => JSON.parse(body ?? '{}');

describe('makeVerifyHandler (against fauxqs)', () => {
  const { clients } = useEmulators();
  let resources: LocalResources;
  let queueSeq = 0;

  beforeEach(async () => {
    // A fresh queue per test: fauxqs keeps dedup ids for 5 minutes.
    queueSeq += 1;
    resources = await createResources(clients, { queue: `verify-${queueSeq}`, bucket: `verify-${queueSeq}` });
  });

  const handler = (overrides: Partial<VerifyDeps> = {}) =>
    makeVerifyHandler({
      sqs: clients.sqs,
      s3: clients.s3,
      queueUrl: resources.queueUrl,
      bucketName: resources.bucketName,
      secrets: async () => [SECRET],
      rules: OPEN_RULES,
      ordering: 'shop',
      log: () => {},
      ...overrides,
    });

  async function receiveAll(): Promise<Message[]> {
    const out: Message[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await clients.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: resources.queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 0,
        }),
      );
      if (!r.Messages?.length) break;
      out.push(...r.Messages);
    }
    return out;
  }

  it('enqueues a signed webhook with the target stripped of /verified and answers 200', async () => {
    const response = await handler()(
      proxyEvent(BODY, shopifyHeaders(BODY), '/verified/webhooks/customers', { query: 'a=1' }),
    );

    expect(response.statusCode).toBe(200);
    const [message, ...rest] = await receiveAll();
    expect(rest).toHaveLength(0);
    const { envelope, body } = decode(message!.Body, message!.MessageAttributes);
    expect(body).toBe(BODY);
    expect(envelope).toMatchObject({
      target: '/webhooks/customers?a=1',
      shop: 'my-store.myshopify.com',
      receivedAt: RECEIVED_AT,
    });
    expect(envelope.claimCheck).toBeUndefined();
  });

  it('accepts the old secret during a rotation', async () => {
    const headers = shopifyHeaders(BODY, {}, 'old');
    const response = await handler({ secrets: async () => ['new', 'old'] })(proxyEvent(BODY, headers));
    expect(response.statusCode).toBe(200);
  });

  it('accepts the Events header spelling', async () => {
    const response = await handler()(proxyEvent(BODY, eventsSpelling(shopifyHeaders(BODY))));
    expect(response.statusCode).toBe(200);
  });

  it('answers 401 with a JSON error to a forged body and enqueues nothing', async () => {
    const headers = shopifyHeaders(BODY);
    const response = await handler()(proxyEvent(`${BODY} `, headers));

    expect(response.statusCode).toBe(401);
    expect(parse(response.body)).toMatchObject({ error: 'signature' });
    expect(await receiveAll()).toHaveLength(0);
  });

  it('answers 401 when the signature header is missing', async () => {
    const response = await handler()(
      proxyEvent(BODY, shopifyHeaders(BODY, { 'x-shopify-hmac-sha256': undefined })),
    );
    expect(response.statusCode).toBe(401);
  });

  it('answers 400 to a signed request with a malformed header, 403 to a shop off the allow-list', async () => {
    const badShop = await handler()(
      proxyEvent(BODY, shopifyHeaders(BODY, { 'x-shopify-shop-domain': 'x.example.com' })),
    );
    const offList = await handler({ rules: { allowedShops: ['other.myshopify.com'], allowedTopics: [] } })(
      proxyEvent(),
    );

    expect([badShop.statusCode, parse(badShop.body).error]).toEqual([400, 'malformed-shop']);
    expect([offList.statusCode, parse(offList.body).error]).toEqual([403, 'shop-not-allowed']);
  });

  it('answers 405 with Allow: POST to other methods, without reading the secret', async () => {
    const secrets = jest.fn(async () => [SECRET]);
    const response = await handler({ secrets })(
      proxyEvent(BODY, shopifyHeaders(BODY), '/webhooks', { method: 'GET' }),
    );

    expect(response.statusCode).toBe(405);
    expect(response.headers).toMatchObject({ allow: 'POST' });
    expect(secrets).not.toHaveBeenCalled();
  });

  it('answers 503 while the secret is unset, so Shopify retries', async () => {
    const response = await handler({ secrets: async () => [] })(proxyEvent());
    expect([response.statusCode, parse(response.body).error]).toEqual([503, 'secret-unset']);
  });

  it('answers 503 when the secret cannot be read', async () => {
    const response = await handler({
      secrets: async () => {
        throw new Error('AccessDenied');
      },
    })(proxyEvent());
    expect(response.statusCode).toBe(503);
  });

  it('claim-checks a body over the SQS limit: bytes in S3, pointer in the message', async () => {
    const big = `{"p":"${'x'.repeat(MAX_MESSAGE_BYTES)}"}`;

    const response = await handler()(proxyEvent(big, shopifyHeaders(big)));

    expect(response.statusCode).toBe(200);
    const [message] = await receiveAll();
    const { envelope, body } = decode(message!.Body, message!.MessageAttributes);
    expect(body).toBe(CLAIM_CHECK_BODY);
    const stored = await clients.s3.send(
      new GetObjectCommand({ Bucket: resources.bucketName, Key: envelope.claimCheck }),
    );
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(Buffer.from(big))).toBe(true);
  });

  it.each([
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['a control character SQS would replace', Buffer.from('{"a":"\u0001"}', 'utf8')],
  ])('claim-checks a body with %s, keeping its bytes exact', async (_, bytes) => {
    const response = await handler()(proxyEvent(bytes, shopifyHeaders(bytes)));

    expect(response.statusCode).toBe(200);
    const [message] = await receiveAll();
    const { envelope } = decode(message!.Body, message!.MessageAttributes);
    const stored = await clients.s3.send(
      new GetObjectCommand({ Bucket: resources.bucketName, Key: envelope.claimCheck }),
    );
    const back = Buffer.from(await stored.Body!.transformToByteArray());
    expect(back.equals(bytes)).toBe(true);
    expect(sign(SECRET, back)).toBe(shopifyHeaders(bytes)['x-shopify-hmac-sha256']);
  });

  it('keeps a leading byte-order mark inline and byte-exact', async () => {
    const bom = `\uFEFF${BODY}`;
    const response = await handler()(
      proxyEvent(Buffer.from(bom, 'utf8'), shopifyHeaders(Buffer.from(bom, 'utf8'))),
    );

    expect(response.statusCode).toBe(200);
    const [message] = await receiveAll();
    expect(Buffer.from(message!.Body!, 'utf8').equals(Buffer.from(bom, 'utf8'))).toBe(true);
  });

  it('enqueues a Shopify retry of the same webhook id once', async () => {
    const h = handler();
    expect((await h(proxyEvent())).statusCode).toBe(200);
    expect((await h(proxyEvent())).statusCode).toBe(200);
    expect(await receiveAll()).toHaveLength(1);
  });
});

describe('makeVerifyHandler (enqueue failures)', () => {
  it('answers 503 when SendMessage fails, so Shopify retries', async () => {
    const { SQSClient } = await import('@aws-sdk/client-sqs');
    const { S3Client } = await import('@aws-sdk/client-s3');
    const sqs = mockClient(SQSClient);
    sqs.on(SendMessageCommand).rejects(new Error('ServiceUnavailable'));
    const handler = makeVerifyHandler({
      sqs: new SQSClient({ region: 'us-east-1' }),
      s3: new S3Client({ region: 'us-east-1' }),
      queueUrl: 'https://queue',
      bucketName: 'b',
      secrets: async () => [SECRET],
      rules: OPEN_RULES,
      ordering: 'shop',
      log: () => {},
    });

    const response = await handler(proxyEvent());

    expect([response.statusCode, parse(response.body).error]).toEqual([503, 'enqueue-failed']);
    sqs.restore();
  });

  // An SDK call has no timeout by default: a hung connection kept Shopify waiting past its 5 s.
  it('answers 503 in time when storing hangs, and 503 when the secret read hangs', async () => {
    const hang = { send: () => new Promise<never>(() => {}) };
    const base = {
      s3: hang,
      queueUrl: 'https://queue',
      bucketName: 'b',
      rules: OPEN_RULES,
      ordering: 'shop' as const,
      log: () => {},
      answerWithinMs: 200,
    };
    const slowStore = makeVerifyHandler({ ...base, sqs: hang, secrets: async () => [SECRET] });
    const slowSecret = makeVerifyHandler({
      ...base,
      sqs: hang,
      secrets: () => new Promise<never>(() => {}),
    });

    const stored = await slowStore(proxyEvent());
    const secret = await slowSecret(proxyEvent());

    expect([stored.statusCode, parse(stored.body).error]).toEqual([503, 'store-slow']);
    expect(secret.statusCode).toBe(503);
  });
});
