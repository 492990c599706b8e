/** A recording HTTP server on loopback: the "app" downstream of Sluice in local and end-to-end tests. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the app received it. */
export interface Recorded {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly at: number;
}

export interface Recorder {
  readonly url: string;
  /** Requests answered 2xx, in the order they were answered. */
  readonly requests: Recorded[];
  /** Every request, whatever the answer. */
  readonly attempts: Recorded[];
  close(): Promise<void>;
}

/** What the app answers; 200 `ok` unless `respond` says otherwise. */
export type Responder = (req: Recorded) => {
  status: number;
  headers?: Record<string, string>;
  delayMs?: number;
};

/** Starts a recording server on 127.0.0.1 (a free port unless `port` is given). */
export async function startRecorder(respond?: Responder, port = 0): Promise<Recorder> {
  const requests: Recorded[] = [];
  const attempts: Recorded[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const rec: Recorded = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers,
      body: Buffer.concat(chunks),
      at: Date.now(),
    };
    attempts.push(rec);
    const answer = respond?.(rec) ?? { status: 200 };
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    // Recorded once answered, like an app that commits the webhook when it replies.
    if (answer.status >= 200 && answer.status < 300) requests.push(rec);
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
    res.end(answer.status < 300 ? 'ok' : 'no');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    attempts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Polls `check` every 50 ms until it returns true; fails after `timeoutMs` (bounded, never a timed assertion). */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < until && i < 100_000; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (await check()) return;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
