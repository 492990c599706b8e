/** DownstreamPort over undici: one keep-alive agent, per-request timeouts, a bounded response snippet. */
import { Agent, request } from 'undici';
import type { DeliveryRequest, DeliveryResult, DownstreamPort } from '../core/ports';

/** Bytes of the app's answer kept for the DLQ; the rest is read and thrown away so the socket is reused. */
export const SNIPPET_BYTES = 1024;
/** Past this much unread body the connection is dropped rather than drained. */
const DRAIN_LIMIT_BYTES = 64 * 1024;
/**
 * A delivered webhook's body is drained for at most this long, then its connection is dropped: a connection
 * held by a slow body is one the next request waits for, and that wait counts against the drainer's timeout.
 */
const DRAIN_2XX_MS = 250;

/** Connection-level headers that belong to one hop; undici sets its own and rejects some of these. */
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export interface HttpDownstreamOptions {
  /** Idle keep-alive sockets are closed after this, ms (below Node's 5 s server default). @default 4000 */
  readonly keepAliveMs?: number;
  /** TCP/TLS connect timeout, ms. @default 5000 */
  readonly connectTimeoutMs?: number;
}

/** The app's endpoint. */
export class HttpDownstream implements DownstreamPort {
  private readonly agent: Agent;

  constructor(options: HttpDownstreamOptions = {}) {
    this.agent = new Agent({
      // No cap on connections: the drainer's window limits requests in flight, and a connection still draining
      // a 2xx body (DRAIN_2XX_MS) must not make the next request wait for one, which its timeout would count.
      connections: null,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveMs ?? 4_000,
      keepAliveMaxTimeout: options.keepAliveMs ?? 4_000,
      connect: { timeout: options.connectTimeoutMs ?? 5_000 },
    });
  }

  async post(req: DeliveryRequest, timeoutMs: number): Promise<DeliveryResult> {
    const started = performance.now();
    // Not rounded: on a LAN or loopback the RTT is well under a millisecond, and the pacing window is
    // computed from it (Little's law), so rounding to 0 would starve the window.
    const rtt = (): number => performance.now() - started;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers[name] = value;
    }
    try {
      const res = await request(req.url, {
        dispatcher: this.agent,
        method: 'POST',
        headers,
        body: req.body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const rttMs = rtt();
      const answered = {
        kind: 'response',
        status: res.statusCode,
        headers: flatten(res.headers),
        rttMs,
      } as const;
      // The status is the answer: an app may send its 2xx at once and its body slowly (streamed, or a proxy
      // that buffers), and a delivered webhook must not wait for it, or the drainer's own deadline would call
      // the delivery a timeout and send it again. A 2xx body is only drained, in the background, for the
      // socket's sake; a failure's first KB is kept for the DLQ, read until the request's own deadline.
      const deadlineAt = started + timeoutMs;
      if (res.statusCode >= 200 && res.statusCode < 300) {
        void readSnippet(res.body, Math.min(deadlineAt, performance.now() + DRAIN_2XX_MS));
        return { ...answered, snippet: '' };
      }
      return { ...answered, snippet: await readSnippet(res.body, deadlineAt) };
    } catch (err) {
      const code = codeOf(err);
      if (TIMEOUT_CODES.has(code)) return { kind: 'timeout', rttMs: rtt() };
      return { kind: 'error', code, message: err instanceof Error ? err.message : String(err), rttMs: rtt() };
    }
  }

  /** Closes idle connections and waits for requests in flight. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

type Body = Awaited<ReturnType<typeof request>>['body'];

/**
 * The first SNIPPET_BYTES of the body as text. The rest is read and dropped so the socket goes back to the
 * pool; past DRAIN_LIMIT_BYTES or `deadlineAt` (performance.now() ms) the stream is destroyed (cheaper than
 * draining a huge body, and a body still trickling in by then is not worth a connection). Never throws.
 */
async function readSnippet(body: Body, deadlineAt: number): Promise<string> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let seen = 0;
  const timer = setTimeout(() => body.destroy(), Math.max(0, deadlineAt - performance.now()));
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      seen += buf.length;
      if (kept < SNIPPET_BYTES) {
        chunks.push(buf);
        kept += buf.length;
      }
      if (seen > DRAIN_LIMIT_BYTES) break;
    }
  } catch {
    // A body that breaks off after the status line still gave its answer: the status is what counts.
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The most specific error code: undici's own, or the socket's (`ECONNREFUSED` …) from the cause chain. */
function codeOf(err: unknown): string {
  let e: unknown = err;
  let fallback: string | undefined;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (TIMEOUT_CODES.has(code) || code.startsWith('E')) return code;
      fallback ??= code;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return fallback ?? (err instanceof Error ? err.name : 'unknown');
}
