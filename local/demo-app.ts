/** The built-in demo app of local mode: a webhook endpoint with a settable capacity that verifies HMACs. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeHeaders, shopifyHeader } from '../core/headers';
import { verify } from '../core/signature';

export interface DemoAppOptions {
  /** Client secrets the app accepts (current first). */
  readonly secrets: readonly string[];
  /** Requests per second the app can take; above it answers 429 with Retry-After. @default 50 */
  readonly ratePerSecond?: number;
  /** Requests it can work on at once; above it answers 503. @default 4 */
  readonly concurrency?: number;
  /** Time it spends on each webhook, ms. @default 20 */
  readonly workMs?: number;
  /** Seconds announced in Retry-After on a 429. @default 1 */
  readonly retryAfterSeconds?: number;
  /** @default 0 (a free port) */
  readonly port?: number;
}

/** What the demo app has seen so far. */
export interface DemoStats {
  /** Webhooks taken (200), duplicates included. */
  readonly accepted: number;
  /** Webhook ids seen more than once. */
  readonly duplicates: number;
  readonly tooManyRequests: number;
  readonly unavailable: number;
  /** Bad or missing signature (a forged webhook reached the app: should stay 0). */
  readonly unauthorized: number;
  readonly inFlight: number;
}

export interface DemoApp {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  stats(): DemoStats;
  close(): Promise<void>;
}

/** Starts the demo app on 127.0.0.1. */
export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const rate = options.ratePerSecond ?? 50;
  const concurrency = options.concurrency ?? 4;
  const workMs = options.workMs ?? 20;
  const retryAfter = options.retryAfterSeconds ?? 1;
  // A token bucket with a small burst: a real app's workers absorb a short spike, not a flood.
  const burst = Math.max(1, rate * 0.2);
  let tokens = burst;
  let refilledAt = Date.now();
  const seen = new Set<string>();
  const counts = { accepted: 0, duplicates: 0, tooManyRequests: 0, unavailable: 0, unauthorized: 0 };
  let inFlight = 0;

  const takeToken = (): boolean => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * rate);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const answer = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== 'POST') return answer(res, 405, 'method not allowed', { allow: 'POST' });
    const headers = normalizeHeaders(req.headers);
    const hmac = shopifyHeader(headers, 'hmac');
    if (!hmac || !verify(body, hmac, options.secrets)) {
      counts.unauthorized++;
      return answer(res, 401, 'invalid hmac');
    }
    if (!takeToken()) {
      counts.tooManyRequests++;
      return answer(res, 429, 'slow down', { 'retry-after': String(retryAfter) });
    }
    if (inFlight >= concurrency) {
      counts.unavailable++;
      return answer(res, 503, 'busy');
    }
    inFlight++;
    try {
      await new Promise((resolve) => setTimeout(resolve, workMs));
    } finally {
      inFlight--;
    }
    const id = shopifyHeader(headers, 'webhookId') ?? '';
    if (seen.has(id)) counts.duplicates++;
    seen.add(id);
    counts.accepted++;
    answer(res, 200, 'ok');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) answer(res, 500, 'demo app error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...counts, inFlight }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
