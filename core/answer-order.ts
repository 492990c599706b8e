// The answer-order test: whether our requests queue at the app, told without an unloaded round trip.
//
// A request that finds a worker free is answered after its own service time, whatever the other requests in
// flight do. One that waits starts when the first of them frees a worker, so its round trip is the time from
// its send to that answer plus its own service time. Over the answers at one window, then, a request's round
// trip rises with the gap from its send to the next answer of another request (slope 1) when the window
// queues, and does not (slope 0) when it fits in the app's workers. Their correlation tells the two apart
// with no base to compare with: the ratio tests of the delay window (core/pacer.ts) need one, and a base
// measured while one request too many queued hides that request for good.
//
// Measured on the simulator (bench/pacing/sim.ts), lognormal service times with cv 0.5: the correlation is
// 0.00–0.04 with the window at the worker count, 0.31–0.39 one over it, and about 1/√n of noise over n
// answers. Two things keep it honest:
// - Deviations are taken within blocks of ORDER_BLOCK answers and pooled: when the app changes speed, round
//   trips and gaps rise together between blocks, which a plain correlation over both would count as a queue.
// - Old blocks fade (ORDER_MAX_DOF): a long stay at one window would otherwise turn a tiny bias of the
//   statistic into significance.

/** Answers whose send-to-next-answer gap is remembered: a request outlived by more of them is not paired. */
const ORDER_MEMORY = 64;
/** Pairs per block; each block contributes its own deviations (n − 1 degrees of freedom). */
const ORDER_BLOCK = 20;
/** Degrees of freedom kept: older blocks are scaled down so the pooled sums weigh about this many. */
const ORDER_MAX_DOF = 120;
/** A queue: correlation × √dof over this (a z-score), after one block at least. */
const ORDER_QUEUE_Z = 3;
/** No queue: after this many degrees of freedom, a correlation under ORDER_NO_QUEUE. */
const ORDER_DECIDE_DOF = 60;
const ORDER_NO_QUEUE = 0.1;

/** A request answered before any other answer came after its send: paired with the next answer. */
interface Pending {
  readonly sentAt: number;
  readonly rttMs: number;
  readonly level: number;
}

/** What the test remembers; part of the pacer state (plain data, JSON-safe). */
export interface AnswerOrder {
  /** Times of the latest answers that freed a worker (2xx and 4xx), oldest first, at most ORDER_MEMORY. */
  readonly answers: readonly number[];
  /** Every answer since this time is in `answers` (or was, and has dropped out of it). */
  readonly since: number;
  readonly pending: readonly Pending[];
  /** The window the sums below are about: pairs whose request left at another level are not counted. */
  readonly window: number;
  /** The current block: count and raw sums of round trips r and gaps g. */
  readonly n: number;
  readonly r: number;
  readonly g: number;
  readonly rg: number;
  readonly gg: number;
  readonly rr: number;
  /** Pooled within-block deviations: degrees of freedom, co-deviation, and the deviations of g and r. */
  readonly dof: number;
  readonly cov: number;
  readonly varGap: number;
  readonly varRtt: number;
}

/**
 * What the answers at a window say: `queue` (the window queues at the app), `no queue` (it fits in the app's
 * workers), `undecided` (enough answers, neither) or `too few`.
 */
export type OrderVerdict = 'queue' | 'no queue' | 'undecided' | 'too few';

const NO_SUMS = { n: 0, r: 0, g: 0, rg: 0, gg: 0, rr: 0, dof: 0, cov: 0, varGap: 0, varRtt: 0 } as const;

export function emptyOrder(now: number): AnswerOrder {
  return { answers: [], since: now, pending: [], window: 0, ...NO_SUMS };
}

/** Adds one pair (round trip, gap to the next answer) of a request that left at `level`. */
function addPair(order: AnswerOrder, rttMs: number, gapMs: number, level: number): AnswerOrder {
  if (level !== order.window) return order;
  const o = {
    ...order,
    n: order.n + 1,
    r: order.r + rttMs,
    g: order.g + gapMs,
    rg: order.rg + rttMs * gapMs,
    gg: order.gg + gapMs * gapMs,
    rr: order.rr + rttMs * rttMs,
  };
  if (o.n < ORDER_BLOCK) return o;
  const mr = o.r / o.n;
  const mg = o.g / o.n;
  const dof = o.dof + o.n - 1;
  // Older blocks fade so the pooled sums weigh ORDER_MAX_DOF at most.
  const keep = dof > ORDER_MAX_DOF ? ORDER_MAX_DOF / dof : 1;
  return {
    ...o,
    n: 0,
    r: 0,
    g: 0,
    rg: 0,
    gg: 0,
    rr: 0,
    dof: dof * keep,
    cov: (o.cov + o.rg - o.n * mr * mg) * keep,
    varGap: (o.varGap + o.gg - o.n * mg * mg) * keep,
    varRtt: (o.varRtt + o.rr - o.n * mr * mr) * keep,
  };
}

/**
 * One answer the app worked on (2xx or 4xx; a 429/503 or a timeout freed no worker) at `now`: a request that
 * left `rttMs` ago with `level` of ours in flight, itself included. Only an answer with a level over 1 (a 2xx
 * that left with others in flight) is paired. `window` is the window in force: the sums start over when it changes.
 */
export function observeAnswer(
  state: AnswerOrder,
  now: number,
  answer: { readonly rttMs: number; readonly level?: number },
  window: number,
): AnswerOrder {
  let order: AnswerOrder = state.window === window ? state : { ...state, window, ...NO_SUMS };
  // Requests answered before any other answer came after their send: this is their next answer.
  for (const p of order.pending) order = addPair(order, p.rttMs, now - p.sentAt, p.level);
  let pending: Pending[] = [];
  const sentAt = now - answer.rttMs;
  // Alone in flight (level 1), a request has no other answer to wait for: there is no queue of ours to find.
  if (answer.level !== undefined && answer.level > 1 && sentAt >= order.since) {
    const next = order.answers.find((t) => t > sentAt);
    const full = order.answers.length >= ORDER_MEMORY;
    if (next !== undefined && !(full && next === order.answers[0])) {
      order = addPair(order, answer.rttMs, next - sentAt, answer.level);
    } else if (next === undefined) {
      pending = [{ sentAt, rttMs: answer.rttMs, level: answer.level }];
    }
    // Otherwise more answers came during its flight than are remembered: its next answer is unknown.
  }
  const answers = [...order.answers, now];
  return {
    ...order,
    answers: answers.length > ORDER_MEMORY ? answers.slice(answers.length - ORDER_MEMORY) : answers,
    pending,
  };
}

/** The pooled correlation of round trips with gaps, and its degrees of freedom. */
export function orderCorrelation(order: AnswerOrder): { readonly correlation: number; readonly dof: number } {
  const correlation =
    order.varGap > 0 && order.varRtt > 0 ? order.cov / Math.sqrt(order.varGap * order.varRtt) : 0;
  return { correlation, dof: order.dof };
}

/** What the answers at `window` say (see OrderVerdict). */
export function orderVerdict(order: AnswerOrder, window: number): OrderVerdict {
  if (order.window !== window || order.dof < ORDER_BLOCK - 1 || order.varGap <= 0 || order.varRtt <= 0) {
    return 'too few';
  }
  const { correlation, dof } = orderCorrelation(order);
  if (correlation * Math.sqrt(dof) > ORDER_QUEUE_Z) return 'queue';
  if (dof < ORDER_DECIDE_DOF) return 'too few';
  return correlation < ORDER_NO_QUEUE ? 'no queue' : 'undecided';
}
