import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpDownstream } from '../../adapters/http-downstream';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

describe('HttpDownstream', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  const sockets = new Set<string>();
  const downstream = new HttpDownstream();

  beforeAll(async () => {
    server = createServer((req, res) => {
      sockets.add(`${req.socket.remotePort}`);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await downstream.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => sockets.clear());

  it('posts the exact body bytes and headers, and returns status and lower-cased headers', async () => {
    let seen: { path?: string; headers?: IncomingMessage['headers']; body?: Buffer } = {};
    handler = (req, body, res) => {
      seen = { path: req.url, headers: req.headers, body };
      res.writeHead(202, { 'X-Trace': 'abc' }).end('ok');
    };
    const body = '{"id":123456789012345678901,"s":"a\\/b ü"}';

    const result = await downstream.post(
      {
        url: `${base}/webhooks/p?x=1`,
        headers: { 'X-Shopify-Topic': 'products/update', host: 'evil', 'content-length': '1' },
        body,
      },
      1_000,
    );

    // A 2xx body is drained, not kept: nothing reads it.
    expect(result).toMatchObject({ kind: 'response', status: 202, snippet: '' });
    expect(result.kind === 'response' && result.headers['x-trace']).toBe('abc');
    expect(seen.path).toBe('/webhooks/p?x=1');
    expect(seen.body?.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(seen.headers?.['x-shopify-topic']).toBe('products/update');
    expect(seen.headers?.host).toBe(new URL(base).host);
  });

  it('keeps only the first KB of a long answer as the snippet and reuses the connection', async () => {
    handler = (_req, _body, res) => res.writeHead(500).end('x'.repeat(10_000));

    const results = [];
    for (let i = 0; i < 4; i++)
      results.push(await downstream.post({ url: `${base}/a`, headers: {}, body: 'a' }, 1_000));

    expect(results.map((r) => r.kind === 'response' && r.snippet.length)).toEqual([1024, 1024, 1024, 1024]);
    // Sequential requests on a keep-alive pool: sockets are reused, not one per request.
    expect(sockets.size).toBeLessThan(4);
  });

  // An app (or its proxy) may send the status at once and the body slowly. Waiting for that body made a
  // delivered webhook look like a timeout to the drainer, which then sent it again and again.
  it('returns a 2xx as soon as its status arrives, without waiting for a slow body', async () => {
    let bodyDone = false;
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('.');
      const timer = setInterval(() => res.write('.'), 200).unref();
      setTimeout(() => {
        clearInterval(timer);
        bodyDone = true;
        res.end();
      }, 2_500).unref();
    };

    const result = await downstream.post({ url: `${base}/trickle`, headers: {}, body: 'a' }, 1_000);

    expect(result).toMatchObject({ kind: 'response', status: 200 });
    expect(bodyDone).toBe(false);
  });

  // Drained until the request's deadline, slow bodies held every connection of the pool, so the next requests
  // queued in the client and the drainer's own deadline, which counts that wait, called them timeouts.
  it('does not let slow 2xx bodies hold the connections later requests need', async () => {
    const client = new HttpDownstream();
    const arrivals: number[] = [];
    const start = Date.now();
    handler = (_req, _body, res) => {
      arrivals.push(Date.now() - start);
      res.writeHead(200);
      res.write('.');
      const timer = setInterval(() => res.write('.'), 100).unref();
      setTimeout(() => {
        clearInterval(timer);
        res.end();
      }, 6_000).unref();
    };
    try {
      for (let i = 0; i < 6; i++) {
        const result = await client.post({ url: `${base}/trickle-${i}`, headers: {}, body: 'a' }, 1_500);
        expect(result).toMatchObject({ kind: 'response', status: 200 });
      }
    } finally {
      await client.close();
    }
    // Six requests, one at a time, each holding its connection's body for 6 s: all sent long before the first
    // body would have ended (drained until the deadline, they left 1.5 s apart once the pool was taken).
    expect(arrivals).toHaveLength(6);
    expect(Math.max(...arrivals)).toBeLessThan(2_500);
  });

  it('answers a failure whose body is still trickling at the timeout with its status and what came so far', async () => {
    let bodyDone = false;
    handler = (_req, _body, res) => {
      res.writeHead(503, { 'retry-after': '5' });
      res.write('busy');
      const timer = setInterval(() => res.write('.'), 100).unref();
      setTimeout(() => {
        clearInterval(timer);
        bodyDone = true;
        res.end();
      }, 3_000).unref();
    };

    const result = await downstream.post({ url: `${base}/trickle-fail`, headers: {}, body: 'a' }, 600);

    expect(result).toMatchObject({ kind: 'response', status: 503 });
    expect(bodyDone).toBe(false);
    expect(result.kind === 'response' && result.snippet.startsWith('busy')).toBe(true);
    expect(result.kind === 'response' && result.headers['retry-after']).toBe('5');
  });

  it('returns a timeout when the app does not answer within the timeout', async () => {
    handler = (_req, _body, res) => {
      setTimeout(() => res.writeHead(200).end(), 1_500).unref();
    };

    const result = await downstream.post({ url: `${base}/slow`, headers: {}, body: 'a' }, 200);

    expect(result.kind).toBe('timeout');
  });

  it('returns an error with the socket code when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const result = await downstream.post({ url: `http://127.0.0.1:${port}/`, headers: {}, body: 'a' }, 1_000);

    expect(result).toMatchObject({ kind: 'error', code: 'ECONNREFUSED' });
  });

  it('returns UND_ERR_INVALID_ARG, sending nothing, for a header value the HTTP client refuses', async () => {
    let reached = false;
    handler = (_req, _body, res) => {
      reached = true;
      res.end();
    };

    const result = await downstream.post(
      { url: `${base}/bad-header`, headers: { 'x-shopify-topic': 'orders/€' }, body: 'a' },
      1_000,
    );

    // The code classify reads as "unsendable": the message, not the app, is at fault.
    expect(result).toMatchObject({ kind: 'error', code: 'UND_ERR_INVALID_ARG' });
    expect(reached).toBe(false);
  });

  it('returns an error when the app drops the connection without answering', async () => {
    handler = (req) => req.socket.destroy();

    const result = await downstream.post({ url: `${base}/drop`, headers: {}, body: 'a' }, 1_000);

    expect(result).toMatchObject({ kind: 'error' });
  });
});
