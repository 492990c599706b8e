// The answer-order test: whether our requests queue at the app, told without an unloaded round trip.
//
// A request that finds a worker free is answered after its own service time, whatever the other requests in
// flight do. One that waits behind k others starts when the k-th of the requests sent before it frees a
// worker, so its round trip is the time from its send to that answer plus its own service time. Over the
// answers at one window, then, a request's round trip rises with the gap from its send to the k-th next answer
// of an earlier request (slope 1) when the window queues, and with none of those gaps (slope 0) when it fits
// in the app's workers. Their correlations tell the two apart with no base to compare with: the ratio tests of
// the delay window (core/pacer.ts) need one, and a base measured while a request too many queued hides that
// request for good.
//
// The test watches the gaps to the first ORDER_DEPTH such answers: the first at the threshold of a single
// test, the deeper ones at a stricter one (ORDER_DEEP_Z). The first alone fades as the queue grows: a request
// three deep waits for three gaps and its own service, of which the first is a small part. Measured (a closed
// loop against 5 FIFO workers, lognormal service times with cv 0.5, 4,000 answers): correlation with the gaps
// to the 1st … 4th answer 0.00/0.00/0.01/0.02 at 5 in flight, 0.30/0.18/0.12/0.10 at 6, 0.26/0.38/0.26/0.20
// at 7 and 0.21/0.32/0.42/0.30 at 8; about 1/√n of noise over n answers. With the first gap only, 2 or 3 over
// 5 workers (0.26, 0.21) never passed the queue threshold within the degrees of freedom kept (3/√120 = 0.27):
// a real run of scenario B sat at 8 over its 5 workers for 17 s.
// Only answers of requests sent before ours count (they are the ones a FIFO app serves first), so an answer
// that our own answer set off (the next request we sent) never enters a gap. Two things keep it honest:
// - Deviations are taken within blocks of ORDER_BLOCK answers and pooled: when the app changes speed, round
//   trips and gaps rise together between blocks, which a plain correlation over both would count as a queue.
// - Old blocks fade (ORDER_MAX_DOF): a long stay at one window would otherwise turn a tiny bias of the
//   statistic into significance.

/** Answers remembered with their send times: a request outlived by more of them is not paired. */
const ORDER_MEMORY = 64;
/** Gaps watched per request: to the 1st … ORDER_DEPTH-th next answer of a request sent before it. */
const ORDER_DEPTH = 4;
/** Pairs per block; each block contributes its own deviations (n − 1 degrees of freedom). */
const ORDER_BLOCK = 20;
/** Degrees of freedom kept: older blocks are scaled down so the pooled sums weigh about this many. */
const ORDER_MAX_DOF = 120;
/** A queue: the correlation with the first gap × √dof over this (a z-score), after one block at least … */
const ORDER_QUEUE_Z = 3;
/**
 * … or the strongest correlation with a deeper gap × √dof over this: four statistics looked at after every
 * answer would cross a single one's threshold by chance too often (the simulator's B and C lost runs to
 * steps down under the worker count at 3.5).
 */
const ORDER_DEEP_Z = 4;
/** No queue: after this many degrees of freedom, a correlation with the first gap under ORDER_NO_QUEUE … */
const ORDER_DECIDE_DOF = 60;
const ORDER_NO_QUEUE = 0.1;
/** … and with every gap watched under ORDER_NO_QUEUE_ANY. */
const ORDER_NO_QUEUE_ANY = 0.12;

/** A request answered before enough earlier requests were: its gaps so far, completed by later answers. */
interface Pending {
  readonly sentAt: number;
  readonly rttMs: number;
  readonly level: number;
  readonly gaps: readonly number[];
}

/** What the test remembers; part of the pacer state (plain data, JSON-safe). */
export interface AnswerOrder {
  /** The latest answers that freed a worker (2xx and 4xx) as [answered at, sent at], oldest first. */
  readonly answers: readonly (readonly [number, number])[];
  /** Every answer since this time is in `answers` (or was, and has dropped out of it). */
  readonly since: number;
  readonly pending: readonly Pending[];
  /** The window the sums below are about: pairs whose request left at another level are not counted. */
  readonly window: number;
  /** The current block: count and raw sums of round trips r and, per depth, gaps g. */
  readonly n: number;
  readonly r: number;
  readonly rr: number;
  readonly g: readonly number[];
  readonly rg: readonly number[];
  readonly gg: readonly number[];
  /** Pooled within-block deviations: degrees of freedom, of r, and per depth of g and of r with g. */
  readonly dof: number;
  readonly varRtt: number;
  readonly cov: readonly number[];
  readonly varGap: readonly number[];
}

/**
 * What the answers at a window say: `queue` (the window queues at the app), `no queue` (it fits in the app's
 * workers), `undecided` (enough answers, neither) or `too few`.
 */
export type OrderVerdict = 'queue' | 'no queue' | 'undecided' | 'too few';

/** Empty sums for `window`: the gaps to the first min(window − 1, ORDER_DEPTH) answers are watched. */
function noSums(window: number) {
  const depth = Math.max(0, Math.min(window - 1, ORDER_DEPTH));
  const zeros = new Array<number>(depth).fill(0);
  return {
    window,
    n: 0,
    r: 0,
    rr: 0,
    g: zeros,
    rg: zeros,
    gg: zeros,
    dof: 0,
    varRtt: 0,
    cov: zeros,
    varGap: zeros,
  };
}

export function emptyOrder(now: number): AnswerOrder {
  return { answers: [], since: now, pending: [], ...noSums(0) };
}

/** Adds one request that left at `level`: its round trip and its gaps to the next answers (one per depth). */
function addPair(order: AnswerOrder, rttMs: number, gaps: readonly number[], level: number): AnswerOrder {
  if (level !== order.window || gaps.length !== order.g.length) return order;
  const o = {
    ...order,
    n: order.n + 1,
    r: order.r + rttMs,
    rr: order.rr + rttMs * rttMs,
    g: order.g.map((x, j) => x + gaps[j]),
    rg: order.rg.map((x, j) => x + rttMs * gaps[j]),
    gg: order.gg.map((x, j) => x + gaps[j] * gaps[j]),
  };
  if (o.n < ORDER_BLOCK) return o;
  const mr = o.r / o.n;
  const dof = o.dof + o.n - 1;
  // Older blocks fade so the pooled sums weigh ORDER_MAX_DOF at most.
  const keep = dof > ORDER_MAX_DOF ? ORDER_MAX_DOF / dof : 1;
  return {
    ...noSums(o.window),
    answers: o.answers,
    since: o.since,
    pending: o.pending,
    dof: dof * keep,
    varRtt: (o.varRtt + o.rr - o.n * mr * mr) * keep,
    cov: o.cov.map((x, j) => (x + o.rg[j] - (o.r * o.g[j]) / o.n) * keep),
    varGap: o.varGap.map((x, j) => (x + o.gg[j] - (o.g[j] * o.g[j]) / o.n) * keep),
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
  let order: AnswerOrder = state.window === window ? state : { ...state, ...noSums(window) };
  const sentAt = now - answer.rttMs;
  const depth = order.g.length;
  // Requests answered before enough earlier ones were: this answer is their next gap if it left before them.
  const pending: Pending[] = [];
  for (const p of order.pending) {
    const gaps = sentAt < p.sentAt ? [...p.gaps, now - p.sentAt] : p.gaps;
    if (gaps.length >= depth) order = addPair(order, p.rttMs, gaps, p.level);
    // A request whose earlier ones never all answer (refused, timed out) is given up within ORDER_MEMORY answers.
    else if (p.sentAt + p.rttMs >= (order.answers[0]?.[0] ?? order.since)) {
      pending.push(gaps === p.gaps ? p : { ...p, gaps });
    }
  }
  // Alone in flight (level 1), a request has no other answer to wait for: there is no queue of ours to find.
  const oldest = order.answers[0];
  const full = order.answers.length >= ORDER_MEMORY;
  const known = sentAt >= order.since && !(full && oldest !== undefined && oldest[0] > sentAt);
  if (answer.level !== undefined && answer.level === window && depth > 0 && known) {
    const gaps: number[] = [];
    for (const [t, s] of order.answers) {
      if (gaps.length >= depth) break;
      if (t > sentAt && s < sentAt) gaps.push(t - sentAt);
    }
    if (gaps.length >= depth) order = addPair(order, answer.rttMs, gaps, answer.level);
    else pending.push({ sentAt, rttMs: answer.rttMs, level: answer.level, gaps });
  }
  const answers = [...order.answers, [now, sentAt] as const];
  return {
    ...order,
    answers: answers.length > ORDER_MEMORY ? answers.slice(answers.length - ORDER_MEMORY) : answers,
    pending,
  };
}

/** The pooled correlation of round trips with the gap to the next answer at each depth, and the strongest. */
export function orderCorrelation(order: AnswerOrder): {
  readonly correlations: readonly number[];
  readonly strongest: number;
  readonly dof: number;
} {
  const correlations = order.cov.map((c, j) =>
    order.varGap[j] > 0 && order.varRtt > 0 ? c / Math.sqrt(order.varGap[j] * order.varRtt) : 0,
  );
  return { correlations, strongest: Math.max(0, ...correlations), dof: order.dof };
}

/** What the answers at `window` say (see OrderVerdict). */
export function orderVerdict(order: AnswerOrder, window: number): OrderVerdict {
  const depth = order.g.length;
  if (
    order.window !== window ||
    depth === 0 ||
    order.dof < ORDER_BLOCK - 1 ||
    order.varRtt <= 0 ||
    order.varGap.some((v) => v <= 0)
  ) {
    return 'too few';
  }
  const { correlations, strongest, dof } = orderCorrelation(order);
  const deep = Math.max(0, ...correlations.slice(1));
  if (correlations[0] * Math.sqrt(dof) > ORDER_QUEUE_Z || deep * Math.sqrt(dof) > ORDER_DEEP_Z)
    return 'queue';
  if (dof < ORDER_DECIDE_DOF) return 'too few';
  return correlations[0] < ORDER_NO_QUEUE && strongest < ORDER_NO_QUEUE_ANY ? 'no queue' : 'undecided';
}
