/** Posts webhooks to a Sluice endpoint as fast as allowed, keeping each shop's webhooks in order. */
import { Agent, request } from 'undici';
import type { Webhook } from './webhooks';

export interface SendOptions {
  /** Base URL the webhook paths are appended to, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  /** Requests in flight at once. @default 16 */
  readonly concurrency?: number;
  /**
   * Keep each shop's webhooks in order: one request per shop in flight, so at most `shops` at once.
   * @default true
   */
  readonly ordered?: boolean;
  /** Called after each answer (or connection error, status 0). */
  readonly onResult?: (webhook: Webhook, status: number) => void;
  /** Stops sending (what is in flight finishes). */
  readonly signal?: AbortSignal;
}

export interface SendSummary {
  readonly sent: number;
  /** 2xx answers. */
  readonly accepted: number;
  /** Non-2xx answers by status; connection errors under 0. */
  readonly rejected: Readonly<Record<number, number>>;
  readonly elapsedMs: number;
  readonly perSecond: number;
  /** The first connection error, when there was one. */
  readonly error?: string;
}

/** Sends every webhook once; never throws for an HTTP answer or a connection error, it counts them. */
export async function sendWebhooks(webhooks: readonly Webhook[], options: SendOptions): Promise<SendSummary> {
  const concurrency = Math.max(1, options.concurrency ?? 16);
  const ordered = options.ordered ?? true;
  const base = options.baseUrl.replace(/\/+$/, '');
  // Lanes: each lane sends its webhooks one after another. Ordered, a shop always maps to the same lane.
  const shops = [...new Set(webhooks.map((w) => w.shop))];
  const laneCount = ordered ? Math.min(concurrency, shops.length) : concurrency;
  const laneOfShop = new Map(shops.map((s, i) => [s, i % Math.max(1, laneCount)]));
  const lanes: Webhook[][] = Array.from({ length: laneCount }, () => []);
  webhooks.forEach((w, i) => {
    lanes[ordered ? laneOfShop.get(w.shop)! : i % laneCount]!.push(w);
  });
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const rejected: Record<number, number> = {};
  let accepted = 0;
  let sent = 0;
  let error: string | undefined;
  const started = Date.now();

  const runLane = async (lane: readonly Webhook[]) => {
    for (const w of lane) {
      if (options.signal?.aborted || error !== undefined) return;
      let status = 0;
      try {
        const res = await request(`${base}${w.path}`, {
          method: 'POST',
          headers: { ...w.headers },
          body: w.body,
          dispatcher,
        });
        await res.body.dump();
        status = res.statusCode;
      } catch (err) {
        // A refused connection will refuse the next one too: stop instead of counting thousands of failures.
        error = err instanceof Error ? `${err.message}` : String(err);
      }
      sent++;
      if (status >= 200 && status < 300) accepted++;
      else rejected[status] = (rejected[status] ?? 0) + 1;
      options.onResult?.(w, status);
    }
  };
  try {
    await Promise.all(lanes.map(runLane));
  } finally {
    await dispatcher.close();
  }
  const elapsedMs = Date.now() - started;
  return {
    sent,
    accepted,
    rejected,
    elapsedMs,
    perSecond: elapsedMs > 0 ? (sent * 1000) / elapsedMs : sent,
    ...(error !== undefined ? { error } : {}),
  };
}
