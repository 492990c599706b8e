// Downstream simulator: one HTTP server on 127.0.0.1, one independent app model per `/<scenario>/<flow>` path.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ownCpuMs } from './machine';
import { lognormal } from './random';
import { bucketHeaders, phaseAt, SCENARIOS, type Scenario, serverTimingHeader } from './scenarios';

type Reply = (status: number, retryAfterS?: number, headers?: Record<string, string>) => void;

/** One simulated app. `handle` is called once per request and must call `reply` exactly once. */
interface Model {
  handle(reply: Reply, res: ServerResponse): void;
}

let t0 = Date.now();
const elapsedS = (): number => (Date.now() - t0) / 1000;

/** An overload answer; like a real app it takes a little while to say no (`ms`), which also bounds hammering. */
function overload(scenario: Scenario, reply: Reply, ms: number, headers?: Record<string, string>): void {
  setTimeout(() => reply(scenario.overloadStatus, scenario.retryAfterS, headers), ms);
}

/** Token bucket at C(t) with a burst of 0.1·C; a 2xx takes a short lognormal service time. */
function tokenBucket(scenario: Scenario): Model {
  let tokens = 0.1 * scenario.phases[0].capacity;
  let last = Date.now();
  return {
    handle(reply) {
      const phase = phaseAt(scenario, elapsedS());
      const now = Date.now();
      const burst = Math.max(1, 0.1 * phase.capacity);
      tokens = Math.min(burst, tokens + ((now - last) * phase.capacity) / 1000);
      last = now;
      const ok = tokens >= 1;
      if (ok) tokens -= 1;
      // Scenario G announces the bucket on every answer.
      const headers = scenario.rateLimitHeaders ? bucketHeaders(phase.capacity, ok ? tokens : 0) : undefined;
      if (!ok) return overload(scenario, reply, lognormal(phase.serviceMs, scenario.serviceCv), headers);
      setTimeout(() => reply(200, undefined, headers), lognormal(phase.serviceMs, scenario.serviceCv));
    },
  };
}

/**
 * c workers with a FIFO waiting room of 2c (`roomPerWorker`·c; H has none); 503 when the room is full, shed
 * after 1 s in the room. I and J announce each 2xx's time in a worker in `Server-Timing`.
 * During an outage requests hang; whatever is still waiting when it ends gets a 503.
 */
function workers(scenario: Scenario): Model {
  let busy = 0;
  const room: { reply: Reply; at: number }[] = [];
  const hung = new Set<Reply>();
  let outageTimer: NodeJS.Timeout | undefined;

  const startNext = (): void => {
    const phase = phaseAt(scenario, elapsedS());
    const c = phase.workers ?? 1;
    while (busy < c && room.length > 0) {
      const next = room.shift()!;
      if (Date.now() - next.at > 1_000) {
        next.reply(503, scenario.retryAfterS);
        continue;
      }
      serve(next.reply, phase.serviceMs);
    }
  };
  const serve = (reply: Reply, serviceMs: number): void => {
    busy += 1;
    const started = performance.now();
    setTimeout(
      () => {
        busy -= 1;
        // Scenarios I and J announce the time the request spent in a worker, as the app measured it.
        reply(
          200,
          undefined,
          scenario.serverTiming ? serverTimingHeader(performance.now() - started) : undefined,
        );
        startNext();
      },
      lognormal(serviceMs, scenario.serviceCv),
    );
  };
  return {
    handle(reply, res) {
      const phase = phaseAt(scenario, elapsedS());
      if (phase.outage) {
        hung.add(reply);
        res.on('close', () => hung.delete(reply));
        if (!outageTimer) {
          const end = scenario.phases.find((p) => p.startS > phase.startS);
          const endMs = end ? t0 + end.startS * 1000 : Date.now() + 10_000;
          outageTimer = setTimeout(
            () => {
              outageTimer = undefined;
              for (const r of hung) r(503);
              hung.clear();
            },
            Math.max(0, endMs - Date.now()),
          );
        }
        return;
      }
      const c = phase.workers ?? 1;
      if (busy < c && room.length === 0) return serve(reply, phase.serviceMs);
      if (room.length >= (scenario.roomPerWorker ?? 2) * c) return overload(scenario, reply, 2);
      room.push({ reply, at: Date.now() });
      startNext();
    },
  };
}

/** Answers 2xx fast while its job backlog (drained at C) stays under 1 s of work, then 503s. */
function asyncBacklog(scenario: Scenario): Model {
  let backlog = 0;
  let last = Date.now();
  return {
    handle(reply) {
      const phase = phaseAt(scenario, elapsedS());
      const now = Date.now();
      backlog = Math.max(0, backlog - ((now - last) * phase.capacity) / 1000);
      last = now;
      if (backlog + 1 > phase.capacity)
        return overload(scenario, reply, lognormal(phase.serviceMs, scenario.serviceCv));
      backlog += 1;
      setTimeout(() => reply(200), lognormal(phase.serviceMs, scenario.serviceCv));
    },
  };
}

function createModel(scenario: Scenario): Model {
  switch (scenario.model) {
    case 'tokenBucket':
      return tokenBucket(scenario);
    case 'workers':
      return workers(scenario);
    case 'async':
      return asyncBacklog(scenario);
  }
}

const models = new Map<string, Model>();

function modelFor(path: string): Model | undefined {
  const [, id, flow] = path.split('/');
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario || !flow) return undefined;
  const key = `${id}/${flow}`;
  let model = models.get(key);
  if (!model) {
    model = createModel(scenario);
    models.set(key, model);
  }
  return model;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  // Drain the body so keep-alive connections stay usable.
  req.resume();
  if (req.method === 'POST' && url.startsWith('/start')) {
    t0 = Number(new URL(url, 'http://x').searchParams.get('t0')) || Date.now();
    models.clear();
    res.writeHead(204).end();
    return;
  }
  const model = req.method === 'POST' ? modelFor(url.split('?')[0]) : undefined;
  if (!model) {
    res.writeHead(404).end();
    return;
  }
  let replied = false;
  model.handle((status, retryAfterS, extra) => {
    if (replied || res.destroyed) return;
    replied = true;
    const headers: Record<string, string> = { 'content-length': '0', ...extra };
    if (retryAfterS !== undefined && status !== 200) headers['retry-after'] = String(retryAfterS);
    res.writeHead(status, headers).end();
  }, res);
}

/** Starts the simulator; resolves with its port once it listens on 127.0.0.1. */
export function startDownstream(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer({ keepAlive: true }, handle);
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

// Run as a child process of the benchmark: report the port, and the CPU time used so far when asked (the
// benchmark tells its own CPU from other processes'); stop when the parent says so.
if (require.main === module) {
  void startDownstream().then(({ port, close }) => {
    process.send?.({ port });
    process.on('message', (m) => {
      if (m === 'cpu') process.send?.({ cpuMs: ownCpuMs() });
      else void close().then(() => process.exit(0));
    });
    process.on('disconnect', () => void close().then(() => process.exit(0)));
  });
}
