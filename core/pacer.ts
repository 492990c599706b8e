// Adaptive pacer: explicit-signal CUBIC on a pacing rate, a Little's-law window and a delay-based window cap.
//
// Design notes (research/pacing.md §5, measured in BENCHMARKS.md):
// - The rate only ever drops on explicit overload (429, 5xx, timeouts), at most once per round trip, to just
//   below the accepted rate measured at the time: that converges in about one step after a capacity drop.
// - After a cut the rate returns to the learned limit on a concave curve, then probes above it on a convex
//   one. When cuts keep landing at the same level the return is held longer, because every failed probe of
//   an app that answers with Retry-After costs a whole pause (§4.3): a probe that fails near the learned
//   limit with a pause to pay makes the next one wait 12 pauses. That trade is explicit and has no free
//   side: an app that gives no sign of new capacity (a token bucket, a job queue answering 2xx at once) is
//   only found to have grown by a probe, so rarer probes find a step up later (BENCHMARKS.md, A and D).
// - An app that queues its work (2xx while its job queue has room, 429/503 with Retry-After when it is full)
//   keeps working through our pause, so the sends a pause of up to CATCH_UP_MAX_PAUSE_MS cost are made up once
//   it ends (CATCH_UP_SHARE of them, as fast as the window, the ceiling and an announced quota allow). An app
//   that refuses a make-up almost at once, or two in a row (a token bucket banks only its burst), is not
//   offered another for BANK_RETRY_MS, and its rate is not cut for them. For one that takes one (banksWork) a
//   failed probe costs only a rejection or two, so probing stays frequent, and its rate is what it accepted
//   from one full queue to the next, the pause included: what it accepted lately overstates it, as it takes
//   everything until the queue is full.
// - The window is Little's law on the rate, capped by a delay-based window: a worker-pool app queues our
//   requests long before it answers 503, so the window shrinks while round-trip times exceed the unloaded
//   round trip and grows while they do not (§5.3.1). Every step of it is checked by the next round: one more
//   request in flight must raise throughput more than RTT, one fewer must lower RTT more than throughput,
//   or the step is undone. Queueing under a few ms is ignored, and an app whose unloaded round trip is that
//   short is not capped by delay at all (its RTTs are our own event-loop delays).
// - Mistakes cost unevenly: one request under the worker count loses 1/W of the throughput, one over adds
//   1/W of latency, and at W ≥ 8 that rise hides in a 20-answer round's noise. So a step down there needs
//   a run of six high rounds, not two, and the routine halving that re-measures the base comes every
//   60–120 s (each one costs half the window for a round; none when the app announces its service time).
// - Every ratio test needs an unloaded base, and a base measured while one request too many queued hides that
//   request (one over 4 workers adds 25%, under SHRINK_RATIO): the base creeps up to the queued round trip and
//   the window with it. The answer-order test (core/answer-order.ts) needs no base: a request that queues
//   behind k others waits for the k-th next answer of a request sent before it, so its round trip correlates
//   with that gap (it watches the first four); one that does not queue is served at once. A queue it finds
//   steps the window down by one; rounds it finds unqueued move the base either way, and a round only
//   moderately high there is not taken for a request too many. It stands aside when the app announces its
//   service time (the ratio tests are exact then).
// - A pool that refuses (429/503) as soon as its workers are busy queues nothing, so the delay window never
//   sees it: every answer carries the level its request left at (ours in flight, itself included), and a
//   refusal at level k while level k − 1 is being served, with nothing lower refused, caps the window at
//   k − 1 instead of cutting the rate (onRefusal). A rate limiter refuses at the lowest levels too, and goes
//   to the rate law. Growing past the cap waits as long as a failed rate probe (12 pauses with Retry-After).
// - An app that announces its own processing time of each request (`Server-Timing`, core/server-timing.ts,
//   when the operator names the metric) gives the delay window an exact base: the window then compares the
//   time our requests spent at the app with the time the app says it worked on them (announcedBase), and a
//   queue of one request shows however noisy the service times are.
// - An app that announces its quota (`RateLimit-Policy`/`RateLimit`, `X-RateLimit-*`; core/rate-limit.ts) is
//   taken at its word: a short-window quota caps the rate just under it and replaces probing above it, the
//   remaining quota is spread over its reset, and `remaining = 0` pauses until the reset (onRateLimit).

import { type AnswerOrder, emptyOrder, observeAnswer, orderVerdict } from './answer-order';
import { RATE_WINDOW_MAX_MS, type RateLimitInfo, SPREAD_MIN_MS } from './rate-limit';

/** Operator limits and the starting point of a pacer. */
export interface PacerOptions {
  /** Operator floor, requests/s (> 0). */
  floorPerSecond: number;
  /** Operator ceiling, requests/s. */
  ceilingPerSecond: number;
  /** Cap on requests in flight (the window). */
  maxWindow: number;
  /** Rate to start from when nothing is persisted. */
  initialRatePerSecond?: number;
}

/**
 * The whole pacer, JSON-serialisable; persisted in DynamoDB between Lambda runs.
 * Times are epoch ms, rates requests/s, durations ms.
 */
export interface PacerState {
  readonly version: 1;
  /** Operator limits, copied in so the pure functions below need nothing else. */
  readonly floor: number;
  readonly ceiling: number;
  readonly maxWindow: number;
  /** `startup`: exponential growth until the first overload; `cubic`: the CUBIC curve around `wMax`. */
  readonly mode: 'startup' | 'cubic';
  /** Startup curve: rate `startRate` at `startAt`, doubling every `STARTUP_DOUBLING_MS`. */
  readonly startRate: number;
  readonly startAt: number;
  /** Last known limit (the plateau of the CUBIC curve). */
  readonly wMax: number;
  /** When the last cut happened and the rate it restarted from. */
  readonly cutAt: number;
  readonly cutRate: number;
  /** Length of the concave return to `wMax`; grows while cuts keep landing at the same level. */
  readonly holdMs: number;
  /** Consecutive cuts at the same level (drives `holdMs`). */
  readonly sameLevelCuts: number;
  /** Smoothed RTT of answered requests, ms (0 = not measured yet). */
  readonly srttMs: number;
  /** End of an announced Retry-After wait (0 = none). */
  readonly pauseUntil: number;
  /** Start of the current measurement span (start, last cut or end of the last pause), answers since then. */
  readonly activeSince: number;
  readonly answeredSinceActive: number;
  readonly sentSinceActive: number;
  /** Sliding-window counters (1 s buckets) of answered and of sent requests: current and previous bucket. */
  readonly bucketStart: number;
  readonly bucketCount: number;
  readonly prevBucketCount: number;
  readonly sentBucketCount: number;
  readonly prevSentBucketCount: number;
  /** When the last request left (0 = never). */
  readonly lastSendAt: number;
  /** Consecutive overload signals without an answer in between (an outage detector). */
  readonly failStreak: number;
  /** Rate that was being accepted before the current failure streak (recovery target). */
  readonly lastGoodRate: number;
  /** Requests sent and not answered yet, as far as this pacer knows. */
  readonly inFlight: number;
  /** Delay-based window cap (fractional; the window uses its floor). */
  readonly delayWindow: number;
  /** Unloaded round trip estimate, ms (0 = unknown): a leaky minimum of round means. */
  readonly baseRttMs: number;
  /** The current measurement round: start, sum and count of RTTs, most requests in flight seen. */
  readonly roundStart: number;
  readonly roundSumMs: number;
  readonly roundCount: number;
  readonly roundMaxInFlight: number;
  /**
   * Mean RTT of the round that shrank the window (0 = no shrink to verify); for a step down by one, of the rounds
   * at the window before it (poolSumMs / poolRounds), or of that round alone when it was the first there.
   */
  readonly meanBeforeShrinkMs: number;
  /** Window before that shrink, restored if the shrink turns out not to lower the RTT. */
  readonly windowBeforeShrink: number;
  /** Answers still to come for requests sent before the shrink: they carry the old queue, so are skipped. */
  readonly drainAnswers: number;
  /** Consecutive rounds well above the base. */
  readonly highRounds: number;
  /**
   * Why the window was shrunk and is being verified: 1 = halved after rounds well above the base, 2 = halved
   * for a routine check of the base, 3 = stepped down by one after rounds moderately above the base.
   */
  readonly verifyReason: number;
  /** When the window was last halved to re-measure the base, and the current interval of routine checks. */
  readonly lastVerifyAt: number;
  readonly verifyEveryMs: number;
  /** A window size that queued recently, and when: growth past it waits `GROW_PAST_BAD_MS`. */
  readonly badWindow: number;
  readonly badWindowAt: number;
  /** Answers per second in the round that shrank the window (verified against the next; as above). */
  readonly rateBeforeShrink: number;
  /**
   * The rounds at the window in force, but its first (a step down by one is verified against them, not against
   * the round that set it off alone): the window they ran at, their weight and the weighted sums of their mean
   * RTTs and answers per second. Up to STEP_BEFORE_ROUNDS rounds weigh 1 each; past that every older round's
   * weight is multiplied by (STEP_BEFORE_ROUNDS − 1) / STEP_BEFORE_ROUNDS per round, so the weight stays at that
   * count.
   */
  readonly poolWindow: number;
  readonly poolRounds: number;
  readonly poolSumMs: number;
  readonly poolSumRate: number;
  /** Window before the last growth step (0 = none to verify), and that round's mean RTT and answers/s. */
  readonly growFrom: number;
  readonly growBeforeMs: number;
  readonly growBeforeRate: number;
  /** A verify round that leaned only slightly to "queued" (its mean RTT and answers/s; 0 = none): the growth
   * step is judged on it and the next round together. */
  readonly growFirstMs: number;
  readonly growFirstRate: number;
  /** When the delay window last grew (or was at its maximum). */
  readonly lastGrowAt: number;
  /** Consecutive rounds that grew the delay window (growth speeds up while they last). */
  readonly growStreak: number;
  /** The answer-order test of the window in force (core/answer-order.ts); starts over after a restart. */
  readonly order: AnswerOrder;
  /** The rule that last changed the delay window (diagnostics: EVENTS=1 and bench/pacing/events.ts); not saved. */
  readonly windowRule: WindowRule;

  // Announced rate limits (onRateLimit); all 0 while the app announces none.
  /** Cap from the app's announced short-window quota, requests/s (0 = none), and when it was last announced. */
  readonly quotaRate: number;
  readonly quotaSeenAt: number;
  /** Cap that makes the announced remaining quota last until its reset, requests/s (0 = none), and its end. */
  readonly spreadRate: number;
  readonly spreadUntil: number;

  // A concurrency limit learned from refusals by level (onRefusal); 0 while none is known.
  /** The highest level answered 2xx lately, and when. */
  readonly servedLevel: number;
  readonly servedAt: number;
  /** The lowest level refused lately, and when. */
  readonly refusedLevel: number;
  readonly refusedAt: number;

  // The app's own service time, when it announces it (`Server-Timing`, signal `serviceMs`); 0 while it does not.
  /** Sum and count of announced service times in the current round. */
  readonly roundServiceSumMs: number;
  readonly roundServiceCount: number;
  /** Round trip beyond the announced service time when nothing queues (network, TLS, our delays), ms; −1: unknown. */
  readonly netRttMs: number;

  // Making up a Retry-After pause, for an app that banks work (a job queue drained while we wait).
  /** Sends still to make up after the current pause: they leave as fast as allowed once it ends (earliestSend). */
  readonly catchUpCredit: number;
  /** The sends the current make-up was granted, and when it could start (the end of its pause). */
  readonly catchUpGranted: number;
  readonly catchUpFrom: number;
  /** The rate a make-up is measured against: the higher of the learned rate and the one accepted before it. */
  readonly catchUpRate: number;
  /** 1 when the make-up follows the first cut: taken in full, it proves nothing (see onOverload). */
  readonly catchUpAtStart: number;
  /** An overload before this time answers the make-up (0 = none being judged). */
  readonly catchUpJudgeAt: number;
  /** 1: a make-up was accepted (the app banks work); −1: one was refused; 0: not known. And when it was learned. */
  readonly banksWork: number;
  readonly banksCheckedAt: number;
  /** Start of the current overload cycle (the last cut) and the 2xx answered since. */
  readonly cycleStart: number;
  readonly cycleAnswered: number;
}

/**
 * What the downstream said about one request. Every kind may carry the quota the app announced with the
 * answer (`rateLimit`, see onRateLimit).
 */
export type Signal =
  /**
   * 2xx. `level`: requests of ours in flight when this one left, itself included (what the window learns a
   * concurrency limit from, see onRefusal).
   */
  | {
      kind: 'accepted';
      rttMs: number;
      level?: number;
      /** The app's own processing time of this request, as it announced it (`Server-Timing`), ms. */
      serviceMs?: number;
      rateLimit?: RateLimitInfo;
    }
  /**
   * 429, 503, other 5xx, timeout, connection error. `refusedAtLevel`: a 429 or 503 ("too busy") to a request
   * that left with this many of ours in flight, itself included.
   */
  | {
      kind: 'overload';
      rttMs?: number;
      retryAfterMs?: number;
      refusedAtLevel?: number;
      rateLimit?: RateLimitInfo;
    }
  /** Permanent 4xx: the app answered; not an overload signal. */
  | { kind: 'rejected'; rttMs: number; rateLimit?: RateLimitInfo }
  /**
   * The request never left: the HTTP client refused to build it from the message (a header value it rejects).
   * It frees its place in the window and says nothing about the app.
   */
  | { kind: 'unsent' };

// ---- rate law constants ----------------------------------------------------------------------------------
// Restart at this share of the new limit after a cut at a new level (pacing.md §5.1, β).
const BETA = 0.85;
// Restart depth after a cut at a new level when the app announced no pause (a failed guess costs little).
const BETA_NO_PAUSE = 0.95;
// Restart depth when the overload hits at the level already learned: the limit is known, a deep cut wastes.
const BETA_SAME_LEVEL = 0.95;
// New limits sit this far under the measured accepted rate: a token bucket's burst inflates that measurement.
const PLATEAU = 0.95;
// A probe that rose slowly through the known limit measures it best (the failure came as the burst ran out):
// the plateau sits closer under that measurement. Not after other failures: an app with a job backlog accepts
// everything until the backlog is full, so its accepted rate at a failure overstates what it can take.
const PLATEAU_PROBED = 0.97;
// A failure far above the known limit, after a probe climbed fast into new room (a step up in capacity): the
// plateau sits this far under the measurement, and the next slow probe measures the limit (simulator, D over
// shifted schedules, SEED=0–5: 133 → 144 of 144 runs passing every target at a ceiling of 1000/s, 76 → 94 at
// 200/s; A, B, C, E–J unchanged).
const PLATEAU_NEW_ROOM = 0.9;
// Overload within this long after a cut or a pause means the rate is still well above capacity: cut deeper.
const QUICK_FAIL_MS = 1_000;
const QUICK_FAIL_FACTOR = 0.85;
// Concave return time after a cut at a new level, and its caps after repeated cuts at the same level.
// A failed probe of an app that announces Retry-After costs the whole pause, so such probes are spaced
// PROBE_COST_RATIO pauses apart (1 s of Retry-After: at most one failed probe per 12 s). Without a pause a
// failed probe costs only a few rejected attempts, so probing stays frequent to find new capacity quickly.
const HOLD_MIN_MS = 2_000;
// Each further cut at the same level multiplies the hold by this.
const HOLD_GROWTH = 3;
const PROBE_COST_RATIO = 12;
const HOLD_MAX_PAUSED_MS = 60_000;
const HOLD_MAX_MS = 2_500;
// A cut is "at the same level" when the new estimate is within this share of the old limit.
const SAME_LEVEL_TOLERANCE = 0.15;
// A failed probe above the known limit still measures "the same level" up to this share above it.
const PROBE_LEVEL_TOLERANCE = 0.3;
// Convex probing above wMax: relative gain per s³ plus an absolute term so tiny rates still grow.
const PROBE_GAIN = 0.15;
const PROBE_ABS = 0.4;
const STARTUP_DOUBLING_MS = 500;
const SRTT_GAIN = 0.2;
const MIN_CUT_SPACING_MS = 100;
const BUCKET_MS = 1_000;
// A rate measured over less than this is not trusted.
const MIN_MEASURE_MS = 300;
const DEFAULT_INITIAL_RATE = 5;
const DEFAULT_SRTT_MS = 100;
// After this many overloads in a row the downstream is treated as down (recovery returns to lastGoodRate).
const OUTAGE_STREAK = 3;

// ---- delay window constants --------------------------------------------------------------------------------
// A round ends after this many answers (or fewer once a second has passed).
const ROUND_SAMPLES = 20;
const ROUND_MIN_SAMPLES = 6;
const ROUND_MAX_MS = 1_000;
// RTT samples are clipped to this multiple of the base so one straggler does not decide a round.
const SAMPLE_CLIP = 4;
// The base follows round means asymmetrically (fast down, slowly up), so it settles on a low quantile of
// unqueued rounds instead of their minimum: a running minimum of noisy means is biased low (pacing.md §5.3.1).
const BASE_GAIN_DOWN = 0.5;
const BASE_GAIN_UP = 0.05;
// Rounds the answer-order test finds unqueued move the base this far towards their mean, either way.
const ORDER_BASE_GAIN = 0.03;
// Round mean ÷ base above SHRINK_RATIO: we are queueing; below GROW_RATIO: room to grow.
const SHRINK_RATIO = 1.3;
// Share of the rise one extra request would cause (W/(W−1) − 1) that counts as evidence of it.
const SHRINK_EVIDENCE = 0.8;
// Above this ratio one extra request cannot explain the rise: halve the window and verify (see delayRound).
const VERIFY_RATIO = 2.2;
const GROW_RATIO = 1.25;
// The halved window must bring the round mean below this share of the round that triggered it.
const VERIFY_DROP = 0.8;
// A halved window whose round's throughput dropped by this share from the round before no longer queues.
const HALVED_RATE_DROP = 0.25;
// Headroom on the Little's-law estimate of the worker count after a verified queue.
const LITTLE_MARGIN = 1.1;
// Above this share the RTT did not move: the app itself got slower (or faster), not our queue.
const VERIFY_UNCHANGED = 0.9;
// A routine re-measurement of the base (the window halved for one short round), like BBR's PROBE_RTT:
// without it a base taken while queueing would never be corrected. The first comes FIRST_VERIFY_MS in (a
// start-up base is often queued); later ones are rare, since each costs half the window for a round.
const VERIFY_EVERY_MS = 60_000;
// Each routine check that finds no queue of ours doubles the interval up to this: checks cost capacity.
const VERIFY_EVERY_MAX_MS = 120_000;
const FIRST_VERIFY_MS = 3_000;
// A round this far below the base means the app got faster: check whether we now queue at the new speed.
const FASTER_RATIO = 0.7;
// A step down by one is kept if the next round's RTT drop beats its throughput drop by this share of 1/W.
const STEP_VERIFY_SHARE = 0.5;
// Rounds at the window that a step down by one is verified against: the latest, the high ones that set it off
// included, older ones fading (poolRounds). The round that set it off alone was picked for reading high, so the
// next reads lower by regression alone and "confirms" a step under the worker count. Simulator, SEED=0–17 × 40
// runs, runs passing every target: B 415 → 427 of 720, C 414 → 424.
const STEP_BEFORE_ROUNDS = 4;
// An announced service time is the mean of unqueued round trips, where the estimated base sits at their low end
// (about 0.9 of the mean at 20 answers a round): the thresholds above are set for that, so the announced mean
// is scaled to match (simulator, B and C with the service time announced: 0.85 171, 0.9 174, 0.95 139, 1.0 58
// runs of 240 passing every target).
const ANNOUNCED_BASE_SHARE = 0.9;
const NET_DRIFT = 0.0002;
// Relative noise of a round's mean RTT (20 answers at a cv of 0.5: ±11%, plus a biased base) under which one
// request too many cannot be seen in two rounds, and the run of high rounds a step down then needs.
const ROUND_NOISE = 0.15;
const LONG_HIGH_RUN = 6;
// Growing back past a window that just queued waits this long (after a reverted growth step, less).
const GROW_PAST_BAD_MS = 5_000;
const GROW_PAST_REVERT_MS = 2_000;
// A growth step is reverted when the next round's RTT rise beats its throughput rise by this share of the
// step (a queue of ours: RTT +k/W, throughput +0; free workers: RTT +0, throughput +k/W), and that round
// sits this share of the step above the base.
const GROW_VERIFY_SHARE = 0.5;
// Evidence for a queue under this many times that margin is judged with one more round (not with an
// announced service time).
const GROW_VERIFY_CLEAR = 2;
// Without growth for this long, one growth step is tried whatever the RTT says (and verified).
const GROW_PROBE_MS = 3_000;
// Samples a verify round needs at least (a routine round: ROUND_MIN_SAMPLES).
const VERIFY_MIN_SAMPLES = 12;
// Queueing delay (round mean minus base) below this is not ours to act on, and an app whose unloaded round
// trip is below it is "instant": the window is not capped by delay at all. With such an app, RTTs are our own
// event-loop and socket delays, which grow with the window when the sender is CPU-bound (halving the window
// halves them, just like a queue at the app), and shrinking the window for them only throttles a sender the
// app does not limit. One request queued at a worker pool adds far more than this. Overload is still cut by
// the rate law on explicit signals.
const QUEUE_FLOOR_MS = 5;

// ---- making up a pause -------------------------------------------------------------------------------------
// Share of the sends a Retry-After pause cost (at the rate after the cut) that are made up once it ends. An
// app that queues its work kept working through the pause, so its queue has that much room again. Under 1:
// the rate it is taken at may sit above the app's, and the room the make-up leaves is what the next probe
// fills, so the 3 s spans on either side of a pause both stay near the app's rate (simulator, D over shifted
// schedules, of 72 runs passing every target: 0.5 5, 0.55 41, 0.6 51, 0.65 66, 0.7 68, 0.75 64, 0.8 43, 1.0 1).
const CATCH_UP_SHARE = 0.7;
// Only pauses up to this long are made up: a longer Retry-After is an app asking to be left alone (a deploy,
// maintenance), not a queue pushing back, and a refused make-up would cost another such pause.
const CATCH_UP_MAX_PAUSE_MS = 5_000;
// A make-up refused after this share of it was accepted still shows an app that banks work.
const CATCH_UP_BANKS = 0.5;
// A make-up refused with less than this share of it taken beyond the rate shows no bank at all.
const CATCH_UP_NONE = 0.1;
// An app that refused a make-up (a token bucket banks only its burst) is offered the next one this much later.
const BANK_RETRY_MS = 600_000;
// Answers to the make-up arrive within this many round trips of its last send, and this many ms more.
const CATCH_UP_JUDGE_RTTS = 2;
const CATCH_UP_JUDGE_SLACK_MS = 20;
// A cycle in which the app accepted this many times its known rate in the last second found new room.
const NEW_ROOM = 2;
// A cycle (cut to overload) shorter than this does not measure an app that banks work.
const MIN_CYCLE_MS = 1_000;

// ---- concurrency limit constants -------------------------------------------------------------------------
// How long a refused level counts as evidence, and the highest level served (short: after a drop in capacity
// the levels served before it must not hide the new limit for long).
const LEVEL_MEMORY_MS = 10_000;
const SERVED_MEMORY_MS = 3_000;

// ---- announced rate limit constants ----------------------------------------------------------------------
// The rate sits this far under an announced quota's rate: pacing jitter must not drain the app's burst.
const QUOTA_MARGIN = 0.97;
// An announced quota that moves by more than this share is a new limit: the rate follows it at once.
const QUOTA_CHANGE = 0.02;
// An announced quota lapses this long after the last answer that carried it (the app may drop the headers).
const QUOTA_TTL_MS = 30_000;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function finiteOr(x: unknown, fallback: number): number {
  return typeof x === 'number' && Number.isFinite(x) ? x : fallback;
}

function validate(options: PacerOptions): void {
  const { floorPerSecond, ceilingPerSecond, maxWindow } = options;
  if (!(floorPerSecond > 0) || !Number.isFinite(floorPerSecond)) {
    throw new RangeError(`floorPerSecond must be a finite number > 0, got ${floorPerSecond}`);
  }
  if (!(ceilingPerSecond >= floorPerSecond) || !Number.isFinite(ceilingPerSecond)) {
    throw new RangeError(
      `ceilingPerSecond must be finite and >= floorPerSecond (${floorPerSecond}), got ${ceilingPerSecond}`,
    );
  }
  if (!Number.isInteger(maxWindow) || maxWindow < 1) {
    throw new RangeError(`maxWindow must be an integer >= 1, got ${maxWindow}`);
  }
}

/** The state as saved between runs. */
export type SavedPacer = Omit<PacerState, 'order' | 'windowRule'>;

/**
 * The rule of the delay window that last changed it (delayRound; `refusal-cap`: onRefusal). Steps down:
 * `halving` (rounds far above the base, or far under it), `routine-check` (the periodic re-measure of the base),
 * `step-down` (rounds moderately above it), `answer-order` (the answer-order test found a queue),
 * `growth-undone` (a growth step queued), `halving-again` and `one-under` (a halving's verify round found a queue
 * left, or a small one), `littles-law` (sized from it), `refusal-cap` (refusals by level). Back up: `growth`,
 * `step-undone` and `no-queue` (a verify round found no queue of ours), `instant` (the app answers in a few ms),
 * `outage` (the first answer after one). `start`: none yet in this run.
 */
export type WindowRule =
  | 'start'
  | 'outage'
  | 'step-undone'
  | 'instant'
  | 'littles-law'
  | 'halving-again'
  | 'rise-halving'
  | 'one-under'
  | 'no-queue'
  | 'growth-undone'
  | 'answer-order'
  | 'step-down'
  | 'halving'
  | 'routine-check'
  | 'growth'
  | 'refusal-cap';

/**
 * What to save of a pacer between runs: all of it but the answer-order test, which starts over in every run
 * (answers of the last run say nothing of requests sent in this one), and the window's last rule (diagnostics),
 * so a saved state is flat numbers.
 */
export function savedPacer(state: PacerState): SavedPacer {
  const { order: _order, windowRule: _rule, ...saved } = state;
  return saved;
}

/** A saved state read back, to read rates and windows from (createPacer resumes a run from it). */
export function loadedPacer(saved: SavedPacer): PacerState {
  return { ...saved, order: emptyOrder(0), windowRule: 'start' };
}

/**
 * Creates a pacer, or restores one from persisted state. A restored pacer resumes at the rate it had
 * learned (on the plateau of its curve) with its learned window, and takes operator limits from `options`.
 */
export function createPacer(options: PacerOptions, now: number, persisted?: SavedPacer): PacerState {
  validate(options);
  const floor = options.floorPerSecond;
  const ceiling = options.ceilingPerSecond;
  const fresh = {
    version: 1 as const,
    floor,
    ceiling,
    maxWindow: options.maxWindow,
    activeSince: now,
    answeredSinceActive: 0,
    sentSinceActive: 0,
    bucketStart: now,
    bucketCount: 0,
    prevBucketCount: 0,
    sentBucketCount: 0,
    prevSentBucketCount: 0,
    lastSendAt: 0,
    failStreak: 0,
    inFlight: 0,
    roundStart: now,
    roundSumMs: 0,
    roundCount: 0,
    roundMaxInFlight: 0,
    meanBeforeShrinkMs: 0,
    windowBeforeShrink: 0,
    drainAnswers: 0,
    highRounds: 0,
    verifyReason: 0,
    // The first routine check comes a few seconds in: a base measured while starting up may be queued.
    lastVerifyAt: now - VERIFY_EVERY_MS + FIRST_VERIFY_MS,
    verifyEveryMs: VERIFY_EVERY_MS,
    badWindow: 0,
    badWindowAt: 0,
    rateBeforeShrink: 0,
    poolWindow: 0,
    poolRounds: 0,
    poolSumMs: 0,
    poolSumRate: 0,
    growFrom: 0,
    growBeforeMs: 0,
    growBeforeRate: 0,
    growFirstMs: 0,
    growFirstRate: 0,
    growStreak: 0,
    order: emptyOrder(now),
    windowRule: 'start' as WindowRule,
    lastGrowAt: now,
    quotaRate: 0,
    quotaSeenAt: 0,
    spreadRate: 0,
    spreadUntil: 0,
    servedLevel: 0,
    servedAt: 0,
    refusedLevel: 0,
    refusedAt: 0,
    roundServiceSumMs: 0,
    roundServiceCount: 0,
    netRttMs: -1,
    catchUpCredit: 0,
    catchUpGranted: 0,
    catchUpFrom: 0,
    catchUpRate: 0,
    catchUpAtStart: 0,
    catchUpJudgeAt: 0,
    banksWork: 0,
    banksCheckedAt: 0,
    cycleStart: now,
    cycleAnswered: 0,
  };
  if (persisted && persisted.version === 1) {
    // Resume on the plateau: the learned limit is the best guess after a gap; probing resumes after a hold.
    const learned = clamp(
      persisted.mode === 'cubic'
        ? finiteOr(persisted.wMax, floor)
        : Math.max(finiteOr(persisted.lastGoodRate, floor), finiteOr(persisted.startRate, floor)),
      floor,
      ceiling,
    );
    const holdMs = clamp(finiteOr(persisted.holdMs, HOLD_MIN_MS), HOLD_MIN_MS, HOLD_MAX_PAUSED_MS);
    const pauseUntil = finiteOr(persisted.pauseUntil, 0);
    return {
      ...fresh,
      mode: 'cubic',
      startRate: learned,
      startAt: now,
      wMax: learned,
      // Hold the learned rate for one hold period before probing above it again.
      cutAt: now,
      cutRate: learned,
      holdMs,
      sameLevelCuts: finiteOr(persisted.sameLevelCuts, 0),
      srttMs: Math.max(0, finiteOr(persisted.srttMs, 0)),
      pauseUntil: pauseUntil > now ? pauseUntil : 0,
      lastGoodRate: learned,
      delayWindow: clamp(finiteOr(persisted.delayWindow, options.maxWindow), 1, options.maxWindow),
      baseRttMs: Math.max(0, finiteOr(persisted.baseRttMs, 0)),
      netRttMs: Math.max(-1, finiteOr(persisted.netRttMs, -1)),
      // Whether the app banks work outlives a run boundary; states saved before it existed do not know.
      banksWork: clamp(Math.round(finiteOr(persisted.banksWork, 0)), -1, 1),
      banksCheckedAt: finiteOr(persisted.banksCheckedAt, 0),
      // An announced quota outlives a run boundary (its TTL decides); states saved before it existed lack it.
      quotaRate: Math.max(0, finiteOr(persisted.quotaRate, 0)),
      quotaSeenAt: finiteOr(persisted.quotaSeenAt, 0),
      spreadRate: Math.max(0, finiteOr(persisted.spreadRate, 0)),
      spreadUntil: finiteOr(persisted.spreadUntil, 0),
    };
  }
  const start = clamp(options.initialRatePerSecond ?? Math.max(floor, DEFAULT_INITIAL_RATE), floor, ceiling);
  return {
    ...fresh,
    mode: 'startup',
    startRate: start,
    startAt: now,
    wMax: 0,
    cutAt: now,
    cutRate: start,
    holdMs: HOLD_MIN_MS,
    sameLevelCuts: 0,
    srttMs: 0,
    pauseUntil: 0,
    lastGoodRate: start,
    delayWindow: options.maxWindow,
    baseRttMs: 0,
  };
}

/** Applies new operator limits at run time; the learned state is kept and clamped. */
export function configure(state: PacerState, options: PacerOptions, now: number): PacerState {
  validate(options);
  const next: PacerState = {
    ...state,
    floor: options.floorPerSecond,
    ceiling: options.ceilingPerSecond,
    maxWindow: options.maxWindow,
    delayWindow: clamp(state.delayWindow, 1, options.maxWindow),
  };
  const raw = curveRate(next, now);
  if (raw >= next.floor && raw <= next.ceiling) {
    return state.mode === 'cubic' ? { ...next, wMax: clamp(next.wMax, next.floor, next.ceiling) } : next;
  }
  const r = clamp(raw, next.floor, next.ceiling);
  // The curve ran past the new limits: re-anchor it on the plateau at the clamped rate, so raising the
  // ceiling later resumes probing from there instead of jumping to wherever the curve had got to.
  return { ...next, mode: 'cubic', wMax: r, cutAt: now - next.holdMs, cutRate: r };
}

/** Rolls the sliding-window counters forward to `now`. */
function rollBuckets(state: PacerState, now: number): PacerState {
  const elapsed = now - state.bucketStart;
  if (elapsed < BUCKET_MS) return state;
  if (elapsed < 2 * BUCKET_MS) {
    return {
      ...state,
      bucketStart: state.bucketStart + BUCKET_MS,
      prevBucketCount: state.bucketCount,
      bucketCount: 0,
      prevSentBucketCount: state.sentBucketCount,
      sentBucketCount: 0,
    };
  }
  return {
    ...state,
    bucketStart: now,
    prevBucketCount: 0,
    bucketCount: 0,
    prevSentBucketCount: 0,
    sentBucketCount: 0,
  };
}

/**
 * Events per second over the last second, or since the measurement span began if that is more recent
 * (so a Retry-After pause or the time before a cut does not blur the measurement).
 */
function slidingRate(state: PacerState, now: number, which: 'answered' | 'sent'): number {
  const span = now - state.activeSince;
  if (span < MIN_MEASURE_MS) return Number.NaN;
  if (span < BUCKET_MS) {
    return ((which === 'answered' ? state.answeredSinceActive : state.sentSinceActive) * 1000) / span;
  }
  const s = rollBuckets(state, now);
  const frac = clamp((now - s.bucketStart) / BUCKET_MS, 0, 1);
  const [prev, cur] =
    which === 'answered' ? [s.prevBucketCount, s.bucketCount] : [s.prevSentBucketCount, s.sentBucketCount];
  return prev * (1 - frac) + cur;
}

/** The uncapped curve: startup growth, or CUBIC around wMax. */
function curveRate(state: PacerState, now: number): number {
  if (state.mode === 'startup') {
    return state.startRate * 2 ** (Math.max(0, now - state.startAt) / STARTUP_DOUBLING_MS);
  }
  const tau = Math.max(0, now - state.cutAt);
  const k = state.holdMs;
  if (tau < k) {
    // Concave: fast at first, flattening out at the last known limit.
    return state.wMax - (state.wMax - state.cutRate) * ((k - tau) / k) ** 3;
  }
  const x = (tau - k) / 1000;
  // Convex: slow just above the old limit, then fast, to find new capacity.
  return state.wMax * (1 + PROBE_GAIN * x ** 3) + PROBE_ABS * x ** 3;
}

/** The pacing rate at `now`, requests/s, within the operator floor and ceiling. */
export function ratePerSecond(state: PacerState, now: number): number {
  const { curve, earned, quota } = rateCaps(state, now);
  return clamp(Math.min(curve, earned, quota), state.floor, state.ceiling);
}

/** What the rate is the least of, before the operator's floor and ceiling (ratePerSecond, explainPace). */
function rateCaps(state: PacerState, now: number): { curve: number; earned: number; quota: number } {
  // No run-away while the app or the window limits throughput: growth beyond the learned limit must be earned.
  const measured = slidingRate(state, now, 'answered');
  const earned = Math.max(2 * (Number.isNaN(measured) ? 0 : measured) + 5, state.wMax, state.startRate);
  return { curve: curveRate(state, now), earned, quota: quotaCap(state, now) };
}

/** Little's law with headroom: the requests in flight that carry `rate` at the smoothed round trip. */
function littlesWindow(state: PacerState, rate: number): number {
  const srtt = state.srttMs > 0 ? state.srttMs : DEFAULT_SRTT_MS;
  return Math.ceil((1.5 * rate * srtt) / 1000) + 1;
}

/**
 * Requests allowed in flight: W = min(maxWindow, ⌈1.5·r·srtt⌉ + 1), further capped by the delay-based
 * window learned from round-trip times; at least 1.
 */
export function windowSize(state: PacerState, now: number): number {
  const littles = littlesWindow(state, ratePerSecond(state, now));
  return Math.max(1, Math.min(state.maxWindow, littles, Math.floor(state.delayWindow)));
}

/** End of an announced Retry-After wait, epoch ms (0 if none). */
export function pausedUntil(state: PacerState): number {
  return state.pauseUntil;
}

/** Epoch ms when the next request may leave: never inside a Retry-After pause, and 1/r after the last send. */
export function earliestSend(state: PacerState, now: number): number {
  // A pause being made up: once it is over, as fast as the window, the operator's ceiling and an announced
  // quota allow.
  if (state.catchUpCredit > 0) {
    const cap = Math.min(state.ceiling, quotaCap(state, now));
    return Math.max(state.pauseUntil, state.lastSendAt > 0 ? state.lastSendAt + 1000 / cap : 0);
  }
  const spacing = state.lastSendAt > 0 ? state.lastSendAt + 1000 / ratePerSecond(state, now) : 0;
  return Math.max(state.pauseUntil, spacing);
}

/** Records that a request left at `now`. */
export function onSend(state: PacerState, now: number): PacerState {
  const s = rollBuckets(settlePause(state, now), now);
  const inFlight = s.inFlight + 1;
  const credit = Math.max(0, s.catchUpCredit - 1);
  // The last send of a make-up: its answers are judged for a couple of round trips, if it left faster than the
  // rate (a make-up that could only leave at about the rate says nothing about a bank).
  const judge =
    s.catchUpCredit === 1
      ? {
          catchUpJudgeAt:
            s.catchUpAtStart === 0 && beyondRate(s, s.catchUpGranted, now) >= CATCH_UP_BANKS
              ? now + CATCH_UP_JUDGE_RTTS * Math.max(s.srttMs, 0) + CATCH_UP_JUDGE_SLACK_MS
              : 0,
        }
      : {};
  return {
    ...s,
    catchUpCredit: credit,
    ...judge,
    lastSendAt: now,
    sentBucketCount: s.sentBucketCount + 1,
    sentSinceActive: s.sentSinceActive + 1,
    inFlight,
    roundMaxInFlight: Math.max(s.roundMaxInFlight, inFlight),
  };
}

/** A make-up was refused and the next one decides (banksWork unknown again after a judgement). */
function refusedOnce(s: PacerState): boolean {
  return s.banksWork === 0 && s.banksCheckedAt > 0;
}

/** Whether an overload at `now` answers a make-up: one is leaving, or its answers are still due (not in a pause). */
function makingUp(s: PacerState, now: number): boolean {
  return !(s.pauseUntil > now) && (s.catchUpCredit > 0 || (s.catchUpJudgeAt > 0 && now < s.catchUpJudgeAt));
}

/**
 * The share of a make-up that an app took beyond its rate: `taken` sends of it accepted by `now`, less what
 * its rate (`catchUpRate`) would have let through since the make-up could start. A bank takes nearly all of it at
 * once; a token bucket only its burst.
 */
function beyondRate(s: PacerState, taken: number, now: number): number {
  const atRate = (s.catchUpRate * Math.max(0, now - s.catchUpFrom)) / 1000;
  return (taken - atRate) / Math.max(1, s.catchUpGranted);
}

/** When a pause has ended, restart the "accepted since the pause" measurement. */
function settlePause(state: PacerState, now: number): PacerState {
  if (state.pauseUntil === 0 || now < state.pauseUntil) return state;
  return {
    ...state,
    pauseUntil: 0,
    activeSince: state.pauseUntil,
    answeredSinceActive: 0,
    sentSinceActive: 0,
  };
}

function recordAnswer(state: PacerState, now: number, rttMs: number): PacerState {
  const s = rollBuckets(settlePause(state, now), now);
  const srttMs = s.srttMs > 0 ? s.srttMs + SRTT_GAIN * (rttMs - s.srttMs) : rttMs;
  return {
    ...s,
    srttMs,
    bucketCount: s.bucketCount + 1,
    answeredSinceActive: s.answeredSinceActive + 1,
  };
}

/** Feeds one downstream answer (or its absence) into the pacer. */
export function onSignal(state: PacerState, signal: Signal, now: number): PacerState {
  if (signal.kind !== 'unsent' && signal.rateLimit) {
    // The answer first, as if it had carried no headers; then what the app announced with it.
    const { rateLimit, ...plain } = signal;
    return onRateLimit(onSignal(state, plain, now), rateLimit, now);
  }
  let answered: PacerState = { ...state, inFlight: Math.max(0, state.inFlight - 1) };
  if (signal.kind === 'unsent') return answered;
  if (signal.kind === 'accepted' && signal.level !== undefined) {
    // The highest level served lately (refreshed while it keeps being served).
    const level = signal.level;
    if (now - answered.servedAt >= SERVED_MEMORY_MS || level >= answered.servedLevel) {
      answered = { ...answered, servedLevel: level, servedAt: now };
    }
  }
  // A refusal of a make-up says the app was full, not how many requests it serves at once (the make-up left in
  // a burst): it is judged as a make-up (onOverload) and teaches the concurrency limit nothing.
  if (signal.kind === 'overload' && signal.refusedAtLevel !== undefined && !makingUp(state, now)) {
    const refusal = onRefusal(answered, signal.refusedAtLevel, signal.retryAfterMs, now);
    if (refusal.capped) return refusal.state;
    answered = refusal.state;
  }
  if (signal.kind === 'accepted' || signal.kind === 'rejected') {
    const rttMs = Math.max(0, signal.rttMs);
    // The app worked on it: a worker freed, which the answer-order test of the window times (answer-order.ts).
    const level = signal.kind === 'accepted' ? signal.level : undefined;
    const window = Math.floor(answered.delayWindow);
    answered = { ...answered, order: observeAnswer(answered.order, now, { rttMs, level }, window) };
    let s = recordAnswer(answered, now, rttMs);
    if (signal.kind === 'rejected') return s;
    if (s.failStreak >= OUTAGE_STREAK) {
      // First answer after an outage: climb straight back towards the rate that worked before.
      const from = Math.max(s.floor, ratePerSecond(s, now));
      s = {
        ...s,
        mode: 'cubic',
        wMax: Math.max(s.lastGoodRate, from),
        cutAt: now,
        cutRate: from,
        holdMs: HOLD_MIN_MS,
        sameLevelCuts: 0,
        // RTTs from before and around the outage describe another app state: start the window afresh.
        delayWindow: s.maxWindow,
        windowRule: 'outage',
        roundStart: now,
        roundSumMs: 0,
        roundCount: 0,
        meanBeforeShrinkMs: 0,
        highRounds: 0,
        badWindow: 0,
        poolWindow: 0,
        poolRounds: 0,
        poolSumMs: 0,
        poolSumRate: 0,
      };
    }
    // Remember what a healthy app accepted: an outage is only noticed a timeout later, when that rate is gone.
    const accepted = slidingRate(s, now, 'answered');
    const lastGoodRate = Number.isNaN(accepted) ? s.lastGoodRate : Math.max(s.floor, accepted);
    const announced = signal.kind === 'accepted' ? signal.serviceMs : undefined;
    const timed =
      announced !== undefined && Number.isFinite(announced) && announced >= 0
        ? {
            roundServiceSumMs: s.roundServiceSumMs + announced,
            roundServiceCount: s.roundServiceCount + 1,
            netRttMs: netSample(s.netRttMs, rttMs - announced),
          }
        : {};
    // With the service time announced the window works on the round trip without the network's share, so a
    // long network path does not dilute a queue at the app (announcedBase).
    const queuedMs = announced !== undefined && s.netRttMs > 0 ? Math.max(0, rttMs - s.netRttMs) : rttMs;
    // A make-up whose answers all came back 2xx: the app banks work (see onOverload).
    const banked =
      s.catchUpJudgeAt > 0 && now >= s.catchUpJudgeAt
        ? { banksWork: 1, banksCheckedAt: now, catchUpJudgeAt: 0 }
        : {};
    return delayRound(
      { ...s, failStreak: 0, lastGoodRate, cycleAnswered: s.cycleAnswered + 1, ...timed, ...banked },
      queuedMs,
      now,
    );
  }
  return onOverload(answered, signal, now);
}

// ---- the delay-based window ------------------------------------------------------------------------------

/**
 * The base of a round whose answers announced the app's service time: ANNOUNCED_BASE_SHARE of their mean. The
 * round's RTTs had the network's share (`netRttMs`, see netSample) taken off, so what the window compares is the
 * app's service time against the time our requests spent at the app, queue included. The service time varies by
 * request and by phase, and the app measures it: the base follows it round by round, so a change in the app's
 * own speed never reads as a queue of ours, and a long network path does not dilute a queue at the app.
 */
function announcedBase(s: PacerState): PacerState {
  const service = s.roundServiceSumMs / s.roundServiceCount;
  return { ...s, baseRttMs: ANNOUNCED_BASE_SHARE * service };
}

/**
 * The round trip beyond the announced service time of a request that did not queue: the lowest such extra,
 * drifting up slowly towards later samples (NET_DRIFT of the difference per answer) so a longer network path
 * is followed. A request that queued at the app has a larger extra, so queueing never lowers it, and a queue
 * of ours raises it only by NET_DRIFT a answer while the window steps down within a round or two.
 */
function netSample(netRttMs: number, extraMs: number): number {
  const x = Math.max(0, extraMs);
  if (netRttMs < 0 || x < netRttMs) return x;
  return netRttMs + NET_DRIFT * (x - netRttMs);
}

/**
 * The delay window halved from the `inUse` requests a round of mean `mean` ms had in flight; the next round
 * (once the requests sent before it are answered) verifies it against that mean. `verifyReason`: 1 after a
 * queue or a change of the app's speed, 2 for a routine check of the base (see delayRound).
 */
function halved(
  next: PacerState,
  inUse: number,
  mean: number,
  rate: number,
  rule: WindowRule,
  verifyReason: number,
  now: number,
): PacerState {
  return {
    ...next,
    delayWindow: Math.max(1, Math.floor(inUse / 2)),
    windowRule: rule,
    meanBeforeShrinkMs: mean,
    rateBeforeShrink: rate,
    windowBeforeShrink: inUse,
    drainAnswers: next.inFlight,
    highRounds: 0,
    verifyReason,
    lastVerifyAt: now,
    growFrom: 0,
  };
}

/**
 * Adds one RTT sample to the current round and, when the round is complete, adjusts the delay window
 * (rounds of ~20 answers; their mean is compared with the unloaded base RTT):
 * - near the base and the window in use: grow by one (not back past a size that just queued);
 * - moderately above (one request too many explains it): step down by one, verified by the next round (kept if
 *   the RTT dropped, undone if not, halved as below if it rose further);
 * - far above, the app got faster, or every 60–120 s as a routine check (with the service time announced, only
 *   a run's first): halve the window and verify. If the RTT drops and the halved window no longer queues,
 *   Little's law sizes the window; if it drops but still queues, halve again; if it does not drop, the app
 *   itself changed speed: the base moves and the window is restored.
 */
function delayRound(state: PacerState, rttMs: number, now: number): PacerState {
  if (state.meanBeforeShrinkMs > 0 && state.drainAnswers > 0) {
    // Requests sent before the halving still queue behind each other: their RTTs say nothing about it.
    return {
      ...state,
      drainAnswers: state.drainAnswers - 1,
      roundStart: now,
      roundSumMs: 0,
      roundCount: 0,
      roundServiceSumMs: 0,
      roundServiceCount: 0,
    };
  }
  const clipped = state.baseRttMs > 0 ? Math.min(rttMs, SAMPLE_CLIP * state.baseRttMs) : rttMs;
  let s: PacerState = { ...state, roundSumMs: state.roundSumMs + clipped, roundCount: state.roundCount + 1 };
  const elapsed = now - s.roundStart;
  // A verify round decides the base: it needs more samples than a routine one.
  const minSamples = s.meanBeforeShrinkMs > 0 ? VERIFY_MIN_SAMPLES : ROUND_MIN_SAMPLES;
  const complete = s.roundCount >= ROUND_SAMPLES || (s.roundCount >= minSamples && elapsed >= ROUND_MAX_MS);
  if (!complete) return s;
  const mean = s.roundSumMs / s.roundCount;
  const roundRate = (1000 * s.roundCount) / Math.max(1, elapsed);
  // Most of the round's answers announced the app's service time: the base is that, not an estimate.
  const timed = 2 * s.roundServiceCount >= s.roundCount;
  if (timed) s = announcedBase(s);
  const window = Math.floor(s.delayWindow);
  // This round joins the rounds at its window. The first round at a new window (a verify round included) starts
  // an empty pool instead: its answers still carry requests of the old one (after a growth step from 5 to 6 was
  // undone, the first round at 5 read 102 answers/s against 70 in the round that set off a right step down to 4
  // next, and pooled with it the step was undone).
  const fresh = s.poolWindow !== window || s.meanBeforeShrinkMs > 0;
  const pooled = fresh ? 0 : s.poolRounds;
  const fade = pooled > 0 ? Math.min(pooled, STEP_BEFORE_ROUNDS - 1) / pooled : 0;
  const joins = fresh ? 0 : 1;
  const next: PacerState = {
    ...s,
    poolWindow: window,
    poolRounds: fade * pooled + joins,
    poolSumMs: fade * s.poolSumMs + joins * mean,
    poolSumRate: fade * s.poolSumRate + joins * roundRate,
    roundStart: now,
    roundSumMs: 0,
    roundCount: 0,
    roundServiceSumMs: 0,
    roundServiceCount: 0,
    roundMaxInFlight: s.inFlight,
    growFirstMs: 0,
  };
  if (s.baseRttMs <= 0) return { ...next, baseRttMs: mean };
  const recentBad = now - s.badWindowAt < GROW_PAST_BAD_MS ? s.badWindow : 0;

  if (s.meanBeforeShrinkMs > 0 && s.verifyReason === 3) {
    // One request fewer must lower the RTT by a good part of the 1/W a queue of ours would lose; otherwise
    // the high rounds were noise (or the app's own variance): restore the window.
    const before = s.meanBeforeShrinkMs;
    const w0 = Math.max(2, s.windowBeforeShrink);
    // Throughput tells the two cases apart as well: removing a request from a queue of ours keeps it, removing
    // one from a worker that was busy with it loses 1/W of it. So the RTT drop must beat the throughput drop.
    const rttDrop = 1 - mean / before;
    const rateDrop = s.rateBeforeShrink > 0 ? 1 - roundRate / s.rateBeforeShrink : 0;
    const confirmed = before - mean > QUEUE_FLOOR_MS && rttDrop - rateDrop > STEP_VERIFY_SHARE / w0;
    // The block on growing back to w0 runs from the step down, whose round found the queue, not from this
    // round: at 20 answers/s a round is a second, and the app may have changed since (in 3 of 10 real B and I
    // flows the step up came during it, and growth resumed only 6.7–7 s after the step down).
    if (confirmed) return { ...next, meanBeforeShrinkMs: 0, badWindow: w0 };
    // One request fewer cannot raise the RTT: a round that rose beyond its noise, still high, says a queue
    // is building (the app's capacity dropped under us) or the app got slower. Halve, and let the halving's
    // verify tell the two apart; restoring the window would add to a building queue (B's step down: 6 over
    // 2 workers restored, halved 2 s later, settled at 8 s).
    if (mean > (1 + ROUND_NOISE) * before && mean > SHRINK_RATIO * s.baseRttMs) {
      return halved(next, Math.min(window, s.roundMaxInFlight), mean, roundRate, 'rise-halving', 1, now);
    }
    return { ...next, meanBeforeShrinkMs: 0, delayWindow: s.windowBeforeShrink, windowRule: 'step-undone' };
  }
  if (s.meanBeforeShrinkMs > 0) {
    const before = s.meanBeforeShrinkMs;
    const verified = { ...next, meanBeforeShrinkMs: 0, baseRttMs: mean };
    if (mean < QUEUE_FLOOR_MS) {
      // With fewer in flight the app answers in a few ms: what queued was our own sending, not the app.
      return { ...verified, delayWindow: s.maxWindow, windowRule: 'instant' };
    }
    // A drop of a few ms is noise (or our own delays), not a queue the halving removed.
    const dropped = before - mean > QUEUE_FLOOR_MS;
    // A halved window that still queues keeps every worker busy: the throughput holds. One under the worker
    // count loses throughput with the window. So a throughput drop says the halved window no longer queues even
    // when the old base is stale (C's app got 2.5× slower under a window at its 4 workers: the RTT dropped ~20%
    // at half the window, and halving again cost 3–4 s). Throughput, not the RTT's share of the window's, since
    // the round that triggered the halving may have caught a queue still building (its RTTs lag the window).
    const underWorkers = s.rateBeforeShrink > 0 && roundRate < (1 - HALVED_RATE_DROP) * s.rateBeforeShrink;
    if (dropped && mean < VERIFY_DROP * before && (mean <= GROW_RATIO * s.baseRttMs || underWorkers)) {
      // Our queue, and the halved window no longer queues: Little's law sizes the window, since the round
      // that queued ran at before/mean × the unloaded round trip.
      const w = Math.max(window, Math.floor(((s.windowBeforeShrink * mean) / before) * LITTLE_MARGIN));
      return {
        ...verified,
        delayWindow: Math.min(w, Math.max(1, Math.floor(s.windowBeforeShrink) - 1)),
        windowRule: 'littles-law',
        badWindow: Math.max(recentBad, Math.floor(s.windowBeforeShrink)),
        badWindowAt: now,
        verifyEveryMs: VERIFY_EVERY_MS,
      };
    }
    if (dropped && mean < VERIFY_DROP * before && window > 1) {
      // Our queue, and the halved window may still queue: halve again (a binary search down to a window
      // that no longer lowers the RTT), so a big drop in capacity is found in a few rounds.
      return {
        ...verified,
        delayWindow: Math.max(1, Math.floor(window / 2)),
        windowRule: 'halving-again',
        meanBeforeShrinkMs: mean,
        rateBeforeShrink: roundRate,
        windowBeforeShrink: window,
        drainAnswers: s.inFlight,
        verifyReason: 1,
        // The size that queued first stays the one not to grow back to.
        badWindow: Math.max(recentBad, Math.floor(s.windowBeforeShrink)),
        badWindowAt: now,
        verifyEveryMs: VERIFY_EVERY_MS,
      };
    }
    if (dropped && mean < VERIFY_UNCHANGED * before) {
      // A queue of ours, but a small one (or too close to call, and latency matters more): one below the
      // size that queued; the growth rule takes it from there against the fresh base. A drop this small is
      // within the noise of two rounds (±16% at cv 0.5), so it leaves no growth blocked (an earlier block
      // included): a growth step back to that size is verified by its own round, while a block costs 1/W of the
      // throughput for GROW_PAST_BAD_MS whenever the drop was noise (C's slowdown: 3 over 4 workers for 5 s).
      const w = Math.max(window, Math.floor(s.windowBeforeShrink) - 1);
      return {
        ...verified,
        delayWindow: w,
        windowRule: 'one-under',
        badWindow: 0,
        verifyEveryMs: VERIFY_EVERY_MS,
      };
    }
    // No queue of ours. After a jump (or a drop) the app itself changed speed: the new RTT is the base.
    // After a routine check the verify round is one more sample of the base, and checks get rarer.
    const baseRttMs = s.verifyReason === 1 ? mean : (s.baseRttMs + mean) / 2;
    const verifyEveryMs =
      s.verifyReason === 2 ? Math.min(VERIFY_EVERY_MAX_MS, 2 * s.verifyEveryMs) : s.verifyEveryMs;
    return {
      ...verified,
      baseRttMs,
      delayWindow: s.windowBeforeShrink,
      windowRule: 'no-queue',
      verifyEveryMs,
    };
  }

  const ratio = mean / s.baseRttMs;
  // Fast down, slowly up: the base settles on a low quantile of unqueued rounds. Queued rounds say nothing.
  const base =
    mean < s.baseRttMs
      ? s.baseRttMs + BASE_GAIN_DOWN * (mean - s.baseRttMs)
      : ratio < GROW_RATIO
        ? s.baseRttMs + BASE_GAIN_UP * (mean - s.baseRttMs)
        : s.baseRttMs;
  // Two high rounds in a row before halving: one noisy round is not a queue.
  // One request too many raises the RTT by W/(W−1) at most: a small window needs stronger evidence, since
  // stepping it down by mistake costs a large share of the throughput.
  const inUseNow = Math.min(window, s.roundMaxInFlight);
  const threshold = Math.max(SHRINK_RATIO, 1 + SHRINK_EVIDENCE / Math.max(1, inUseNow - 1));
  const queueMs = mean - s.baseRttMs;
  const instant = s.baseRttMs < QUEUE_FLOOR_MS;
  const high = ratio > threshold && s.roundMaxInFlight > 1 && queueMs > QUEUE_FLOOR_MS && !instant;
  if (s.growFrom > 0 && !instant) {
    // The round after a growth step: more in flight must have raised the throughput more than the RTT, or
    // the extra requests only queued (the window had reached the worker count). Revert, and do not retry
    // that size for a while.
    const second = s.growFirstMs > 0;
    const growMean = second ? (s.growFirstMs + mean) / 2 : mean;
    const growRate = second ? (s.growFirstRate + roundRate) / 2 : roundRate;
    const rttRise = growMean / s.growBeforeMs - 1;
    const rateRise = s.growBeforeRate > 0 ? growRate / s.growBeforeRate - 1 : 0;
    const used = s.roundMaxInFlight >= window;
    const share = (window - s.growFrom) / s.growFrom;
    const margin = GROW_VERIFY_SHARE * share;
    const aboveBase = growMean > (1 + margin) * s.baseRttMs;
    const evidence = rttRise - rateRise;
    if (used && aboveBase && growMean - s.growBeforeMs > QUEUE_FLOOR_MS && evidence > margin) {
      // Two rounds of ~20 answers differ by ±16% at cv 0.5: a step of one request at W = 3–7 moves the RTT
      // by a third to a seventh, so one round that leans only slightly to "queued" is often noise. Undoing a
      // step onto free workers costs 1/W of the throughput for 2 s (B after its step up: 2 → 8 workers, most
      // late settlings, simulator); keeping one request too many a round longer costs a little latency. So
      // such a round is judged with the next. With an announced service time the base is exact and one
      // round decides (a second only kept I's queues longer: −28 runs of 960, simulator).
      if (!second && !timed && evidence < GROW_VERIFY_CLEAR * margin) {
        return { ...next, baseRttMs: base, growFirstMs: mean, growFirstRate: roundRate, highRounds: 0 };
      }
      return {
        ...next,
        baseRttMs: base,
        delayWindow: s.growFrom,
        windowRule: 'growth-undone',
        badWindow: window,
        // A single round's evidence: retry sooner than after a confirmed queue.
        badWindowAt: now - GROW_PAST_BAD_MS + GROW_PAST_REVERT_MS,
        growFrom: 0,
        growStreak: 0,
        highRounds: 0,
      };
    }
  }
  // The answer-order test (answer-order.ts) needs no base: a queue it finds steps the window down by one
  // and marks that size, and rounds it finds unqueued move the base both ways, so a base measured while one
  // request too many queued does not stay. An announced service time gives the ratio tests an exact base:
  // then they alone decide.
  const verdict = timed || instant || inUseNow < window ? 'too few' : orderVerdict(s.order, window);
  if (verdict === 'queue' && window > 1) {
    return {
      ...next,
      delayWindow: window - 1,
      windowRule: 'answer-order',
      badWindow: window,
      badWindowAt: now,
      highRounds: 0,
      growFrom: 0,
      growStreak: 0,
    };
  }
  const baseRttMs =
    verdict === 'no queue'
      ? s.baseRttMs + ORDER_BASE_GAIN * (mean - s.baseRttMs)
      : verdict === 'undecided'
        ? Math.min(base, s.baseRttMs)
        : base;
  // Two high rounds in a row before acting: one noisy round is not a queue. Where one request too many would
  // raise the RTT by less than a round's own noise (large windows), a step down needs a longer run of them:
  // a wrong step costs 1/W of the throughput, one request too many only a little latency. A jump too big
  // for a few requests too many is acted on at once (the halving verifies it).
  const subtle = 1 / Math.max(1, inUseNow - 1) < ROUND_NOISE && ratio < VERIFY_RATIO;
  const highNeeded = subtle ? LONG_HIGH_RUN - 1 : 1;
  // A round only moderately high while the answer-order test finds no queue at this window is noise (or the
  // app's own variance), not one request too many. Before steps down were verified against the rounds at the
  // window (STEP_BEFORE_ROUNDS), one was verified against this very round, picked for being high, so the next
  // round read lower by regression alone and "confirmed" it (the simulator's C at 80 rps, SEED=0: 4 → 3 under
  // its 4 workers, held 5 s; 10 of 40 runs settled late after the step up, 3 with this rule); a step tried still
  // costs a round under the workers. A jump too big for a request too many still halves.
  const queued = high && (ratio >= VERIFY_RATIO || verdict !== 'no queue');
  if (queued && s.highRounds < highNeeded) {
    return { ...next, baseRttMs, highRounds: s.highRounds + 1, growFrom: 0 };
  }
  // A base of a few ms cannot hide a queue worth a check, and a round "much faster" by a few ms is noise.
  const faster = ratio < FASTER_RATIO && -queueMs > QUEUE_FLOOR_MS;
  // An announced service time gives the base exactly: after the first check of a run (its window starts at the
  // maximum), no routine halving re-measures it, since each costs half the window for a round (J's, 60 s after
  // its start-up, fell into its 80 rps phase and broke its settling in 3 of 10 real runs).
  const firstOfRun = s.lastVerifyAt < s.startAt;
  const due = now - s.lastVerifyAt >= s.verifyEveryMs && !instant && (!timed || firstOfRun);
  const routine = s.roundMaxInFlight > 1 && (due || faster);
  if (queued && ratio < VERIFY_RATIO && !routine) {
    // Moderately high: one request too many explains it. Step down, and verify with the next round that the
    // RTT dropped as a queue of ours would (noise in two rounds is common: a wrong step costs 1/W of the rate),
    // against the rounds pooled at this window (this one among them, though it was picked for reading high). When
    // this round is the first at its window (a refusal cap or the operator moved it), there is no pool, and
    // the check is against this round alone, as before the pool (and as easily passed).
    const inUse = Math.min(window, s.roundMaxInFlight);
    return {
      ...next,
      baseRttMs,
      delayWindow: Math.max(1, inUse - 1),
      windowRule: 'step-down',
      highRounds: 0,
      meanBeforeShrinkMs: next.poolRounds > 0 ? next.poolSumMs / next.poolRounds : mean,
      windowBeforeShrink: inUse,
      rateBeforeShrink: next.poolRounds > 0 ? next.poolSumRate / next.poolRounds : roundRate,
      growFrom: 0,
      drainAnswers: s.inFlight,
      verifyReason: 3,
      badWindow: inUse,
      badWindowAt: now,
    };
  }
  if (queued || routine) {
    const inUse = Math.min(window, s.roundMaxInFlight);
    // A round far below the base is as telling as one far above: the verify round becomes the base.
    const telling = queued || faster;
    return halved(
      { ...next, baseRttMs },
      inUse,
      mean,
      roundRate,
      telling ? 'halving' : 'routine-check',
      telling ? 1 : 2,
      now,
    );
  }
  let w = instant ? s.maxWindow : s.delayWindow;
  let growStreak = 0;
  // A base that sits too low (from a noisy round) would make every round look queued and stop growth for
  // good: after GROW_PROBE_MS without growth, try one more anyway; the next round verifies it.
  const stalled = now - s.lastGrowAt >= GROW_PROBE_MS;
  const roomToGrow = ratio < GROW_RATIO || queueMs < QUEUE_FLOOR_MS || stalled;
  if (!instant && roomToGrow && s.roundMaxInFlight >= window && window < s.maxWindow) {
    const blocked = window + 1 >= s.badWindow && s.badWindow > 0 && now - s.badWindowAt < GROW_PAST_BAD_MS;
    if (!blocked) {
      // Rounds that keep finding room grow faster (1, 1, 2, 2, 3, …): a step up in capacity is found in a
      // few rounds, while a single growth step stays one request, as close to a worker count as before.
      growStreak = s.growStreak + 1;
      w = window + 1 + Math.floor(s.growStreak / 2);
    }
  }
  const grown = clamp(w, 1, s.maxWindow);
  return {
    ...next,
    baseRttMs,
    delayWindow: grown,
    windowRule: Math.floor(grown) > window ? 'growth' : s.windowRule,
    highRounds: 0,
    growStreak,
    // Remember this round to verify a growth step against the next one.
    growFrom: Math.floor(grown) > window ? window : 0,
    lastGrowAt: Math.floor(grown) > window || window >= s.maxWindow ? now : s.lastGrowAt,
    growBeforeMs: mean,
    growBeforeRate: roundRate,
  };
}

// ---- overload --------------------------------------------------------------------------------------------

/**
 * A 429 or 503 to a request that left at `level`. When the highest level served lately is the one under it
 * and nothing under it has been refused lately, the app refuses by concurrency, not by rate (a pool of
 * `level − 1` workers with no waiting room): the window is capped at `level − 1`, the announced wait is kept,
 * and the rate is not cut, since it was not what the app refused. Growing past the cap is a probe that costs
 * a pause when it fails, so it waits as long as a failed rate probe does (PROBE_COST_RATIO pauses). A refusal
 * over a cap already learned is explained by it the same way. Anything else (a rate limiter serves and refuses
 * the same levels) returns `capped: false`, with the refusal remembered, for the rate law.
 */
function onRefusal(
  state: PacerState,
  level: number,
  retryAfterMs: number | undefined,
  now: number,
): { state: PacerState; capped: boolean } {
  const priorLow =
    state.refusedLevel > 0 && now - state.refusedAt < LEVEL_MEMORY_MS
      ? state.refusedLevel
      : Number.POSITIVE_INFINITY;
  const served = now - state.servedAt < SERVED_MEMORY_MS ? state.servedLevel : 0;
  let s: PacerState = { ...state, refusedLevel: Math.min(priorLow, level), refusedAt: now };
  // Over a cap already learned (a request sent before it, or while the window was larger): explained by it.
  const overCap = priorLow <= level && level > Math.floor(state.delayWindow);
  // Level k − 1 served lately and level k not: a rate limiter serves and refuses the same levels.
  const newCap = level >= 2 && served === level - 1 && priorLow >= level;
  if (!overCap && !newCap) return { state: s, capped: false };
  s = rollBuckets(settlePause(s, now), now);
  const retryAfter = retryAfterMs !== undefined && retryAfterMs > 0 ? retryAfterMs : 0;
  const hold =
    retryAfter > 0 ? Math.min(HOLD_MAX_PAUSED_MS, PROBE_COST_RATIO * retryAfter) : GROW_PAST_BAD_MS;
  const capped: PacerState = {
    ...s,
    pauseUntil: retryAfter > 0 ? Math.max(s.pauseUntil, now + retryAfter) : s.pauseUntil,
    delayWindow: Math.min(s.delayWindow, level - 1),
    windowRule: Math.floor(s.delayWindow) > level - 1 ? 'refusal-cap' : s.windowRule,
    // Growth back to `level` waits `hold` (the block lasts GROW_PAST_BAD_MS from badWindowAt).
    badWindow: level,
    badWindowAt: now + hold - GROW_PAST_BAD_MS,
    growFrom: 0,
    growStreak: 0,
  };
  return { state: capped, capped: true };
}

function onOverload(
  state: PacerState,
  signal: { rttMs?: number; retryAfterMs?: number },
  now: number,
): PacerState {
  let s = rollBuckets(settlePause(state, now), now);
  s = { ...s, failStreak: s.failStreak + 1 };
  const retryAfter = signal.retryAfterMs !== undefined && signal.retryAfterMs > 0 ? signal.retryAfterMs : 0;
  const wasPaused = s.pauseUntil > now;
  const answersMakeUp = makingUp(s, now);
  if (retryAfter > 0) s = { ...s, pauseUntil: Math.max(s.pauseUntil, now + retryAfter) };
  // An overload that answers a make-up early on: the app may not bank what a pause cost (a token bucket banks
  // only its burst). The rate is not to blame. A make-up sized on a rate far too high (after start-up, or when
  // the app's rate dropped) is refused by a queue too, so the next one is half the size; a second refusal in a
  // row settles it, and the next make-up is offered BANK_RETRY_MS later. One that took most of it banks work,
  // and the rate it was sized on was too high: that is cut as usual.
  if (answersMakeUp) {
    // While it is leaving, what it got beyond the rate; once it has all left (fast, see onSend), what of it was
    // not still in flight.
    const taken =
      s.catchUpCredit > 0
        ? beyondRate(s, s.catchUpGranted - s.catchUpCredit - s.inFlight, now)
        : (s.catchUpGranted - s.inFlight) / Math.max(1, s.catchUpGranted);
    const refusedBefore = refusedOnce(s);
    s = { ...s, catchUpCredit: 0, catchUpJudgeAt: 0, banksCheckedAt: now };
    if (taken >= CATCH_UP_BANKS) {
      s = { ...s, banksWork: 1 };
    } else if (s.banksWork === 1) {
      // An app known to bank work refuses a make-up when its rate dropped: its queue, sized for the old rate,
      // is still full after the pause. Cut as for any overload.
      s = { ...s, banksWork: 0 };
    } else {
      // Taken in part, it may have been sized on a rate too high (one more, half the size, decides); hardly
      // taken at all, it was not: a queue takes at least what it processed during the pause.
      const again = s.banksWork === 0 && !refusedBefore && taken >= CATCH_UP_NONE;
      return { ...s, banksWork: again ? 0 : -1 };
    }
  }
  // One cut per round trip: the answers to requests already in flight describe the same overload.
  const spacing = Math.max(s.srttMs, MIN_CUT_SPACING_MS);
  if (wasPaused || (s.mode === 'cubic' && now - s.cutAt < spacing)) return s;
  // A request sent before the last cut (or recovery) was paced by the old rate: its failure is old news.
  if (signal.rttMs !== undefined && s.mode === 'cubic' && now - signal.rttMs < s.cutAt) return s;

  const r = ratePerSecond(s, now);
  const sent = slidingRate(s, now, 'sent');
  // What actually left, not what the curve allowed: the window or the backlog may have held sending back.
  const actual = Number.isNaN(sent) ? r : Math.min(r, sent);
  const accepted = slidingRate(s, now, 'answered');
  let estimate = Number.isNaN(accepted) ? 0.8 * actual : Math.min(accepted, actual);
  // An app that banks work accepts everything until its queue is full, so what it accepted lately overstates
  // its rate. From one full queue to the next (cut to overload, the pause and its make-up included) it
  // accepted what it processed: that is its rate.
  const cycleMs = now - s.cycleStart;
  const banking = s.banksWork === 1 && s.mode === 'cubic' && cycleMs >= MIN_CYCLE_MS;
  // Unless the app found far more room than it was known to have: it idled for part of the cycle (its rate
  // rose), and the answers of the last second are the better (if high) estimate; the next cycle corrects it.
  const cycled = (s.cycleAnswered * 1000) / cycleMs;
  if (banking && !(estimate > NEW_ROOM * s.wMax)) estimate = cycled;
  const quick =
    !banking && s.mode === 'cubic' && now - s.activeSince < QUICK_FAIL_MS && !Number.isNaN(accepted);
  if (quick) estimate *= QUICK_FAIL_FACTOR;
  // A failure while probing above the known limit, at a rate not far above it, measures the limit well (the
  // probe rose slowly through it): the level is known, however far the last plateau sat under it.
  const probing = s.mode === 'cubic' && now - s.cutAt > s.holdMs;
  const sameLevel =
    s.mode === 'cubic' &&
    !quick &&
    s.failStreak === 1 &&
    estimate >= (1 - SAME_LEVEL_TOLERANCE) * s.wMax &&
    estimate <= (1 + (probing ? PROBE_LEVEL_TOLERANCE : SAME_LEVEL_TOLERANCE)) * s.wMax;
  // A pause the app's queue makes up for (banksWork, see CATCH_UP_SHARE) costs a probe no more than a few
  // rejected attempts: probing stays frequent, as without a pause.
  const pays = retryAfter > 0 && s.banksWork !== 1;
  let wMax: number;
  let holdMs: number;
  let cutRate: number;
  if (sameLevel) {
    // The overload came at the level already known: the limit has not moved, so probe less often. The
    // plateau follows the accepted rate (a deep earlier cut may have left it low).
    wMax = (probing ? PLATEAU_PROBED : PLATEAU) * estimate;
    const cap = pays ? Math.min(HOLD_MAX_PAUSED_MS, PROBE_COST_RATIO * retryAfter) : HOLD_MAX_MS;
    // A failed probe with a pause to pay: the next one waits the whole cap (each costs a pause).
    const grown = probing && pays ? cap : s.holdMs * HOLD_GROWTH;
    holdMs = Math.min(Math.max(cap, HOLD_MIN_MS), grown);
    cutRate = BETA_SAME_LEVEL * wMax;
  } else {
    // A probe that climbed fast into new room overshoots it before the failure comes, and what the app took
    // meanwhile at once (a token bucket's burst, a job queue's room) inflates the measurement: sit further under.
    const newRoom = probing && estimate > (1 + PROBE_LEVEL_TOLERANCE) * s.wMax;
    wMax = (newRoom ? PLATEAU_NEW_ROOM : PLATEAU) * estimate;
    holdMs = HOLD_MIN_MS;
    // Without a pause a cut that was too shallow costs only another rejection or two: restart close to the
    // new limit (one with Retry-After would cost a whole pause, so it restarts lower).
    cutRate = (pays ? BETA : BETA_NO_PAUSE) * wMax;
  }
  wMax = clamp(wMax, s.floor, s.ceiling);
  // The pause is made up after it, unless the app refused a make-up lately. After the first cut the rates a
  // make-up is sized on and measured against mean little: a pool limited by the window takes a make-up of a
  // start-up rate at once, like a bank. So that one can show that an app does not bank work, or that it does
  // by taking more than it is sized for, but not by being taken in full.
  const offer =
    retryAfter > 0 &&
    retryAfter <= CATCH_UP_MAX_PAUSE_MS &&
    (s.banksWork >= 0 || now - s.banksCheckedAt >= BANK_RETRY_MS);
  // After a refused make-up the next one is smaller (see above).
  const share = refusedOnce(s) ? CATCH_UP_SHARE / 2 : CATCH_UP_SHARE;
  const catchUpCredit = offer ? Math.floor((share * wMax * retryAfter) / 1000) : 0;
  return {
    ...s,
    catchUpCredit,
    catchUpGranted: catchUpCredit,
    catchUpFrom: s.pauseUntil,
    catchUpRate: Math.max(wMax, Number.isNaN(accepted) ? 0 : accepted),
    catchUpAtStart: s.mode === 'startup' ? 1 : 0,
    catchUpJudgeAt: 0,
    cycleStart: now,
    cycleAnswered: 0,
    mode: 'cubic',
    wMax,
    cutAt: now,
    cutRate: clamp(cutRate, s.floor, s.ceiling),
    holdMs,
    sameLevelCuts: sameLevel ? s.sameLevelCuts + 1 : 0,
    // Measure afresh from here, so a failure soon after this cut is recognised as "still too fast".
    activeSince: Math.max(now, s.pauseUntil),
    answeredSinceActive: 0,
    sentSinceActive: 0,
  };
}

// ---- announced rate limits -------------------------------------------------------------------------------

/** The cap announced quotas put on the rate at `now`, requests/s (+∞: none in force). */
function quotaCap(state: PacerState, now: number): number {
  let cap = Number.POSITIVE_INFINITY;
  if (state.quotaRate > 0 && now - state.quotaSeenAt < QUOTA_TTL_MS) cap = state.quotaRate;
  if (state.spreadRate > 0 && now < state.spreadUntil) cap = Math.min(cap, state.spreadRate);
  return cap;
}

/**
 * Applies the quota an answer announced (core/rate-limit.ts), after the answer itself:
 * - a quota over a short window (≤ RATE_WINDOW_MAX_MS) is the app's rate: the pacing rate is capped at
 *   QUOTA_MARGIN of it. When it is new, or moves while the rate sits on it, the curve is re-anchored on it,
 *   so the rate follows at once (a step up needs no failed probe, a step down no 429); otherwise the curve is
 *   only pulled back to it, so probing above an announced limit never happens, while overload below it is
 *   still cut by the rate law.
 *   A longer window is a budget, not a rate (see RATE_WINDOW_MAX_MS): it caps nothing;
 * - `remaining` with a reset between SPREAD_MIN_MS and RATE_WINDOW_MAX_MS caps the rate so the remaining
 *   quota lasts until the reset;
 * - `remaining = 0` with a reset pauses sending until the reset, like an announced Retry-After (without a
 *   reset there is nothing to wait for: the next answer will say more).
 */
function onRateLimit(state: PacerState, info: RateLimitInfo, now: number): PacerState {
  let s = state;
  const { limit, windowMs, remaining, resetMs } = info;
  if (limit !== undefined && windowMs !== undefined && windowMs <= RATE_WINDOW_MAX_MS) {
    const cap = clamp((QUOTA_MARGIN * limit * 1000) / windowMs, s.floor, s.ceiling);
    const known = s.quotaRate > 0 && now - s.quotaSeenAt < QUOTA_TTL_MS;
    const moved = Math.abs(cap - s.quotaRate) > QUOTA_CHANGE * s.quotaRate;
    // Below a known quota the rate law is at work (overload of another kind): a moved quota leaves it there.
    const atCap = known && curveRate(s, now) >= (1 - QUOTA_CHANGE) * s.quotaRate;
    s = { ...s, quotaRate: cap, quotaSeenAt: now };
    if (!known || (moved && atCap)) {
      // A new limit: the plateau sits on it at once (probing above is capped), at a new level.
      s = {
        ...s,
        mode: 'cubic',
        wMax: cap,
        cutRate: cap,
        cutAt: now - HOLD_MIN_MS,
        holdMs: HOLD_MIN_MS,
        sameLevelCuts: 0,
      };
    } else if (curveRate(s, now) > cap) {
      // The curve ran past the known limit while capped: keep it on the plateau, ready to follow the quota.
      s = { ...s, mode: 'cubic', wMax: cap, cutRate: cap, cutAt: now - s.holdMs };
    }
  }
  if (remaining !== undefined && resetMs !== undefined && resetMs > 0) {
    if (remaining <= 0) {
      s = { ...s, pauseUntil: Math.max(s.pauseUntil, now + resetMs) };
    } else if (resetMs >= SPREAD_MIN_MS && resetMs <= RATE_WINDOW_MAX_MS) {
      s = { ...s, spreadRate: (remaining * 1000) / resetMs, spreadUntil: now + resetMs };
    }
  }
  return s;
}

// ---- explaining the pace -----------------------------------------------------------------------------------

/** What sets the pacing rate at a moment (explainPace). */
export type RateBound =
  /** Waiting out a `Retry-After` (or an exhausted announced quota) the app sent. */
  | 'retry-after'
  /** Overload answers or timeouts in a row: the app is treated as down (the rate drops towards the floor). */
  | 'outage'
  /** The operator's ceiling (configuration or `sluice rate --ceiling`). */
  | 'ceiling'
  /** The operator's floor: the rate law would go lower. */
  | 'floor'
  /** The quota the app announces in rate-limit headers. */
  | 'quota'
  /** Finding the app's capacity: the rate doubles until the first overload answer. */
  | 'startup'
  /** At (or returning to) the limit learned from the app's overload answers. */
  | 'learned'
  /** Above the learned limit, looking for more capacity. */
  | 'probing'
  /** The window, or the app's speed, limits what is answered: the rate may not run far ahead of it. */
  | 'answers';

/** What sets the window (requests in flight) at a moment (explainPace). */
export type WindowBound =
  /** The configured `maxInFlight`. */
  | 'max'
  /** Enough for the rate at the current round trip (Little's law): the rate, not the window, limits. */
  | 'rate'
  /** Round trips rise beyond this many in flight: the app queues our requests. */
  | 'latency'
  /** The app refused (429/503) the request one above this many in flight, and served this many. */
  | 'refusals';

/** Why the pacer sends at its current rate and window: what `sluice status` shows an operator. */
export interface PaceExplanation {
  readonly ratePerSecond: number;
  readonly rateBound: RateBound;
  /** The limit learned from the app's overload answers, requests/s (absent during start-up). */
  readonly learnedLimitPerSecond?: number;
  /** How long ago the rate was last cut for an overload answer, ms (absent during start-up). */
  readonly lastCutMsAgo?: number;
  /** Until the rate may probe above the learned limit again, ms (`learned` only). */
  readonly probeInMs?: number;
  /** Until the `Retry-After` wait ends, ms (`retry-after` only). */
  readonly pauseLeftMs?: number;
  /** The rate cap from the app's announced quota, requests/s, while one is in force. */
  readonly quotaPerSecond?: number;
  readonly window: number;
  readonly windowBound: WindowBound;
  /** The window the app's round trips allow (the delay-based cap), whole requests. */
  readonly delayWindow: number;
  /** The rule that last changed `delayWindow`; absent while none has since this pacer started or was restored. */
  readonly windowRule?: WindowRule;
  /** The app's unloaded round trip as the window estimates it (or as the app announced it), ms. */
  readonly unloadedRttMs?: number;
  /** Whether the app keeps working through a pause (a job queue), so that pauses are made up; absent: not known. */
  readonly queuesWork?: boolean;
}

/**
 * Explains `ratePerSecond` and `windowSize` at `at` from the same state; the times it reports (since the last
 * cut, until the next probe, until a pause ends) count from `now`, for a state read some time after it was saved.
 */
export function explainPace(state: PacerState, at: number, now: number = at): PaceExplanation {
  const rate = ratePerSecond(state, at);
  const window = windowSize(state, at);
  const { curve, earned, quota } = rateCaps(state, at);
  const near = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  const uncapped = Math.min(curve, earned, quota);
  let rateBound: RateBound;
  if (state.pauseUntil > at) rateBound = 'retry-after';
  else if (state.failStreak >= OUTAGE_STREAK) rateBound = 'outage';
  else if (uncapped > state.ceiling || near(uncapped, state.ceiling)) rateBound = 'ceiling';
  else if (uncapped < state.floor || near(uncapped, state.floor)) rateBound = 'floor';
  else if (quota < Math.min(curve, earned)) rateBound = 'quota';
  else if (earned < curve) rateBound = 'answers';
  else if (state.mode === 'startup') rateBound = 'startup';
  else rateBound = at - state.cutAt < state.holdMs ? 'learned' : 'probing';

  const littles = littlesWindow(state, rate);
  const delay = Math.floor(state.delayWindow);
  let windowBound: WindowBound;
  if (delay < Math.min(state.maxWindow, littles)) {
    const refused =
      state.refusedLevel > 0 && at - state.refusedAt < LEVEL_MEMORY_MS && delay <= state.refusedLevel - 1;
    windowBound = refused ? 'refusals' : 'latency';
  } else {
    windowBound = littles < state.maxWindow ? 'rate' : 'max';
  }
  const cubic = state.mode === 'cubic';
  return {
    ratePerSecond: rate,
    rateBound,
    ...(cubic ? { learnedLimitPerSecond: state.wMax, lastCutMsAgo: Math.max(0, now - state.cutAt) } : {}),
    ...(rateBound === 'learned' && state.cutAt + state.holdMs > now
      ? { probeInMs: state.cutAt + state.holdMs - now }
      : {}),
    ...(rateBound === 'retry-after' ? { pauseLeftMs: Math.max(0, state.pauseUntil - now) } : {}),
    ...(Number.isFinite(quota) ? { quotaPerSecond: quota } : {}),
    window,
    windowBound,
    delayWindow: delay,
    ...(state.windowRule !== 'start' ? { windowRule: state.windowRule } : {}),
    ...(state.baseRttMs > 0 ? { unloadedRttMs: state.baseRttMs } : {}),
    // A state saved before the judgement existed lacks the field: not known, like 0.
    ...(state.banksWork === 1 || state.banksWork === -1 ? { queuesWork: state.banksWork === 1 } : {}),
  };
}
