/**
 * A scriptable app on loopback for the drainer's integration tests: it answers each request as its script
 * says (status, headers, delay) and records every arrival, whether the answer reached the client, and when.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the app received it. */
export interface Arrival {
  /** Sequence number of the arrival, from 0. */
  readonly n: number;
  readonly at: number;
  readonly url: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly webhookId: string;
  readonly shop: string;
}

/** What the app answers to one request. @default 200 */
export interface Answer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering (a slow app, or a timeout when longer than the drainer's). */
  readonly delayMs?: number;
  /** Send the status and headers, then trickle the body a byte every 200 ms for this long (a streaming app). */
  readonly bodyTrickleMs?: number;
}

/** An arrival and its fate. */
export interface Exchange extends Arrival {
  status: number;
  answeredAt?: number;
  /** True when the client was still there to read the answer (a timed-out request is not committed). */
  completed: boolean;
}

export interface ScriptedApp {
  readonly url: string;
  readonly exchanges: Exchange[];
  /** Replaces the script (answers for arrivals from now on). */
  setScript(script: (req: Arrival) => Answer): void;
  /** Webhook ids whose 2xx answer reached the client, in answer order: what the app committed. */
  committed(): Exchange[];
  close(): Promise<void>;
}

export async function startScriptedApp(
  script: (req: Arrival) => Answer = () => ({ status: 200 }),
): Promise<ScriptedApp> {
  let current = script;
  const exchanges: Exchange[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const arrival: Arrival = {
      n: exchanges.length,
      at: Date.now(),
      url: req.url ?? '',
      headers,
      body: Buffer.concat(chunks),
      webhookId: headers['x-shopify-webhook-id'] ?? '',
      shop: headers['x-shopify-shop-domain'] ?? '',
    };
    const answer = current(arrival);
    const exchange: Exchange = { ...arrival, status: answer.status, completed: false };
    exchanges.push(exchange);
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs).unref());
    if (gone || res.destroyed) return;
    exchange.answeredAt = Date.now();
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
    if (answer.bodyTrickleMs) {
      const until = Date.now() + answer.bodyTrickleMs;
      while (Date.now() < until && !gone && !res.destroyed) {
        res.write('.');
        await new Promise((r) => setTimeout(r, 200).unref());
      }
      if (gone || res.destroyed) return;
    }
    res.end(answer.status < 300 ? 'ok' : `answer ${answer.status}`, () => {
      exchange.completed = !gone;
    });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    setScript: (s) => {
      current = s;
    },
    committed: () =>
      exchanges
        .filter((e) => e.completed && e.status >= 200 && e.status < 300)
        .sort((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
