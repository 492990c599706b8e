/** The drainer loop (DESIGN §4): lease, pipelined receive, group-fair paced delivery, retries in place, DLQ. */
import { classify, signalOf, type Verdict } from './classify';
import { ATTR, ContractError, decode, type Envelope, unsafeTarget } from './contract';
import { buildDelivery } from './delivery';
import {
  configure,
  createPacer,
  earliestSend,
  explainPace,
  onSend,
  onSignal,
  type PaceExplanation,
  type PacerOptions,
  type PacerState,
  pausedUntil,
  ratePerSecond,
  type Signal,
  type WindowRule,
  windowSize,
} from './pacer';
import {
  type BodyStorePort,
  type Clock,
  DeadLetterNotDeletedError,
  type DeadLetterReceipt,
  type DeadLetterRecord,
  type DeliveryResult,
  type DownstreamPort,
  type MetricsPort,
  type OperatorControls,
  type QueuedMessage,
  type QueuePort,
  type StatePort,
} from './ports';
import { type DeadLetterInfo, type DeadLetterReason, METRICS, QUEUE } from './resources';
import { TICK_MARGIN_MS } from './schedule';
import { Scheduler } from './scheduler';
import { serviceTimeMs } from './server-timing';
import { verify } from './signature';

/** How one drainer run behaves. Times are epoch ms unless the name says otherwise. */
export interface DrainerOptions {
  /** Lease owner id (unique per run). */
  readonly owner: string;
  /** The app's base URL, e.g. `https://app.example.com`; the webhook's original path and query are appended. */
  readonly downstreamUrl: string;
  /** Shopify secrets to verify signatures with (at least one; two during a rotation). */
  readonly secrets: readonly string[];
  /** Pacer floor, ceiling, max window and initial rate; operator controls override floor and ceiling. */
  readonly pacer: PacerOptions;
  /**
   * Failed attempts that blame the message after which it goes to the DLQ (`exhausted`). A failure that says
   * the app is down or full for everyone (see `blames`) does not count: `maxRetryMs` bounds that wait.
   */
  readonly maxAttempts: number;
  /**
   * Time a message may keep failing, from its first failure, after which it goes to the DLQ (`exhausted`).
   * Time it spent visible in the queue waiting to be received again (the drainer paused or down) does not count.
   */
  readonly maxRetryMs: number;
  /**
   * The queue's message retention: a failing message that a run would release within EXPIRY_MARGIN_MS of it goes
   * to the DLQ (`exhausted`) instead, whatever `maxRetryMs` allows, so SQS never deletes it unseen.
   * @default QUEUE.retentionSeconds
   */
  readonly queueRetentionMs?: number;
  /** Per-request timeout; a timeout counts as overload. */
  readonly downstreamTimeoutMs: number;
  /** Take no new work after this. */
  readonly stopAt: number;
  /** Everything released and the run returned by this. */
  readonly deadline: number;
  /** Lease time to live, renewed every third of it. @default 30000 */
  readonly leaseTtlMs?: number;
  /** Long-poll wait of each receive, seconds (≤ 20). @default 20 */
  readonly receiveWaitSeconds?: number;
  /** Visibility timeout of received messages, seconds; held messages are extended every third of it. @default 60 */
  readonly visibilitySeconds?: number;
  /** Exit (outcome `idle`) once nothing is held and the queue has been empty this long. @default never */
  readonly idleExitMs?: number;
  /**
   * Keeps a busy run going: as `stopAt` nears while webhooks are being delivered (one in the last BUSY_MS),
   * `stopAt` and `deadline` move `stepMs` later, as long as the deadline stays at or before `latestDeadline`.
   * A run budgeted to end before its schedule's next tick then delivers through a backlog instead of spending
   * every minute's wind-down idle. @default never extended
   */
  readonly extension?: { readonly stepMs: number; readonly latestDeadline: number };
  /**
   * The metric of the app's `Server-Timing` answer header that gives its processing time of each request
   * (`app` for `Server-Timing: app;dur=47.2`). The pacer then sizes its window on the app's own service time
   * instead of estimating it from round trips. @default none (the header is ignored)
   */
  readonly serviceTimeMetric?: string;
  /** How often operator controls (pause, floor, ceiling) are re-read. @default 2000 */
  readonly controlsRefreshMs?: number;
  /** Graceful stop (Ctrl-C): stop intake, finish or release what is held, persist, return `aborted`. */
  readonly signal?: AbortSignal;
}

/** Log sink; the core never writes to the console itself. */
export type DrainerLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  data?: Record<string, unknown>,
) => void;

/** Retry progress of one message, remembered across runs. */
export interface RetryRecord {
  /** Delivery attempts so far. */
  readonly attempts: number;
  /** Of those, the failures that blame the message (what `maxAttempts` counts); absent: all of them. */
  readonly strikes?: number;
  /** Epoch ms of its first failure. */
  readonly firstFailureAt: number;
  /**
   * Epoch ms when the run that saved it made it visible again (its release wait over). Time it then waited to
   * be received again (the drainer paused, down or busy elsewhere) was not spent failing. Absent: unknown.
   */
  readonly dueAt?: number;
  /**
   * Epoch ms since when reading its claim-checked body has failed (an error, not "gone"); cleared by the next
   * record a delivery failure writes. Dead-lettered as `body-missing` after BODY_READ_GIVE_UP_MS of it.
   */
  readonly bodyFailingSince?: number;
  /** Epoch ms of the run that last failed to read it (the time after it, beyond a run or two, is not counted). */
  readonly bodyFailedAt?: number;
  /**
   * Epoch ms when its copy landed in the DLQ but the message could not be deleted: when it comes back, it is
   * deleted, not delivered (again) and moved (again).
   */
  readonly deadLetteredAt?: number;
}

/**
 * Optional memory of retry progress across runs (e.g. DynamoDB items `retry#<message id>` with a TTL of
 * the queue's retention). Each run releases what it holds at its time budget, so without it `maxAttempts`
 * and `maxRetryMs` count within one run only, and a message that fails forever would block its group until
 * SQS's own redrive. With it, both limits span runs and the message reaches the DLQ as `exhausted`.
 */
export interface RetryMemoryPort {
  /** The progress saved for a message, if any. */
  get(messageId: string): Promise<RetryRecord | undefined>;
  /** Saves a failing message's progress as the run releases it. */
  put(messageId: string, record: RetryRecord, now: number): Promise<void>;
}

/** The ports a drainer runs against (AWS adapters in Lambda and local mode, in-memory ones in tests). */
export interface DrainerDeps {
  readonly queue: QueuePort;
  readonly state: StatePort;
  readonly downstream: DownstreamPort;
  /** Claim-check body store; a claim-checked message without it goes to the DLQ (`body-missing`). */
  readonly bodies?: BodyStorePort;
  readonly clock: Clock;
  readonly metrics: MetricsPort;
  readonly log?: DrainerLog;
  /** Retry progress across runs; without it retry limits count per run. */
  readonly retries?: RetryMemoryPort;
  /**
   * Told each change of the pacer's delay window (whole requests) and the rule that made it, as it happens
   * (diagnostics: the pacing benchmark logs them; bench/pacing/events.ts).
   */
  readonly onWindowChange?: (change: WindowChange) => void;
}

/**
 * A change of the pacer's delay window: when (epoch ms), from and to which size, and why; with the unloaded
 * round trip the window's rules compare rounds with, as it stands after the change (0 = none yet).
 */
export interface WindowChange {
  readonly at: number;
  readonly from: number;
  readonly to: number;
  readonly rule: WindowRule;
  readonly baseRttMs: number;
}

/** A snapshot of a drainer (local mode shows it live). Counters are for this run. */
export interface DrainerStatus {
  /** Messages received and not yet settled, including the ones in flight. */
  held: number;
  /** Requests to the app awaiting an answer. */
  inFlight: number;
  delivered: number;
  /** Attempts that failed transiently and will be tried again in place. */
  retried: number;
  deadLettered: number;
  duplicates: number;
  ratePerSecond: number;
  window: number;
  /** End of an announced Retry-After wait, epoch ms (0: none). */
  pausedUntil: number;
  /** Since when the app has refused everything (REFUSING_STREAK), epoch ms: sending one at a time, slowly. */
  refusingSince?: number;
  /** What sets the rate and the window now (absent before the pacer exists). */
  pace?: PaceExplanation;
  operatorPaused: boolean;
  lastError?: string;
  running: boolean;
}

/** Why a run returned. */
export type RunOutcome = 'lease-held' | 'stopped' | 'idle' | 'aborted' | 'lease-lost';

export interface RunSummary extends DrainerStatus {
  readonly outcome: RunOutcome;
}

export interface Drainer {
  /**
   * Runs until `stopAt`, abort, idleness or loss of the lease. Never rejects for a message's failure; it
   * rejects only when the lease or the initial state cannot be read (then nothing was received).
   */
  run(): Promise<RunSummary>;
  status(): DrainerStatus;
  /** When the run must have returned (epoch ms): `deadline`, moved later by each extension. */
  deadlineAt(): number;
}

/** Invalid drainer options (a programming or configuration error, not a message failure). */
export class DrainerOptionsError extends Error {
  readonly code = 'drainer-options';
  constructor(message: string) {
    super(message);
    this.name = 'DrainerOptionsError';
  }
}

const DEFAULT_LEASE_TTL_MS = 30_000;
const DEFAULT_RECEIVE_WAIT_S = 20;
const DEFAULT_VISIBILITY_S = 60;
const DEFAULT_CONTROLS_REFRESH_MS = 2_000;
const PERSIST_EVERY_MS = 5_000;
/** Never hold more than this many messages, whatever the rate. */
const MAX_HELD = 1_000;
/**
 * An app that refuses everything (a deploy that broke its webhook route or its HMAC check: 401, 404, 3xx to
 * every webhook) would see the whole queue dead-lettered at the pacer's rate, 2 million in hours. After this
 * many refusals in a row, from at least REFUSING_SHOPS shops and with no delivery in between, the drainer
 * slows down: webhooks of shops the app accepted within ACCEPTED_LATELY_MS still go at the pacer's rate (their
 * app works: a few uninstalled shops' leftovers must not hold them up), every other one goes one at a time,
 * REFUSING_GAP_MS apart, round-robin by shop, shops that do not look gone (GONE_AFTER_REFUSALS) first. A shop
 * accepted lately that is refused now ends every fast lane (the app broke for live shops too). The first 2xx
 * for a shop without a recent one ends the slow-down (the app works again). Each refused webhook still goes to the DLQ with its answer (nothing is held back unseen),
 * but at a pace that leaves hours to fix the app, not minutes. One shop's refusals never trip it.
 */
const REFUSING_STREAK = 10;
const REFUSING_SHOPS = 3;
const REFUSING_GAP_MS = 1_000;
const ACCEPTED_LATELY_MS = 10_000;
/**
 * During a slow-down, refused shops' webhooks can fill everything the drainer holds (a few uninstalled shops'
 * leftovers, one group each under the `resource` key), and then nothing behind them is received: live shops
 * would wait for the leftovers to go one a second. So when all it holds belongs to refused shops and it can
 * take no more, it hands their groups back to the queue for PARK_S (keeping one group per shop for the slow
 * turns), at most every PARK_EVERY_MS, and receives what lies behind them: a few hundred every 5 s reaches
 * live shops behind 3,000 leftovers within a minute. A parked webhook comes back in 30 minutes, its order
 * kept; 30 minutes a time keeps SQS's receive count far under its 1,000 over 14 days. With the app refusing
 * everything this churns the queue at most ~1,000 messages per PARK_EVERY_MS, a few cents of SQS an hour.
 */
const PARK_S = 1_800;
const PARK_EVERY_MS = 5_000;
/** A shop refused this many times with no 2xx since looks gone (uninstalled): it is parked and served last. */
const GONE_AFTER_REFUSALS = 3;
/** Parked webhooks remembered (by shop) to hand them back at once when their shop is accepted again. */
const PARKED_KEPT_MAX = 10_000;
/**
 * A webhook failing again with an error of its own does not cut the rate again while failures are under this
 * share of answers (an average over the last ~20): above it the app is overloaded, not one webhook poisoned,
 * and the retries are what tells the pacer (a pool that goes on working after its gateway's 500 or our
 * timeout stayed overloaded when they did not count: 58% failing against 0%).
 */
const POISON_FAIL_SHARE = 0.1;
const FAIL_SHARE_GAIN = 0.05;
/** Shops remembered for ACCEPTED_LATELY_MS (the oldest are forgotten first beyond this many). */
const ACCEPTED_SHOPS_MAX = 10_000;
/** Per-message backoff between in-place retries: base · 2^(failures−1), capped. The pacer paces globally. */
const RETRY_BASE_MS = 200;
/**
 * 429 and 503 say "too fast" about the app, not about the message, and the pacer has already cut the rate
 * for them: the first failures of a message retry at the pacer's spacing alone, and only a message that keeps
 * failing backs off on its own. With one message group a per-message backoff after every paced 429 stalls the
 * whole flow, and the pacer then measures the stall instead of the app (BENCHMARKS.md, scenario F).
 */
const PACED_STATUSES: ReadonlySet<number> = new Set([429, 503]);
const PACED_FREE_RETRIES = 2;
const RETRY_CAP_MS = 10_000;
/**
 * Failures that say the app is unreachable or full for everyone, not that this message is bad: connection
 * errors and timeouts (no status), 429, and the 502/503/504 a proxy answers for an app that is down. They
 * count towards `maxAttempts` only when another webhook was delivered meanwhile (then the app is up, and this
 * message is what fails). Otherwise an hour-long outage would use up every group head's attempts in 17–70
 * minutes and dead-letter them, breaking each group's order, while the app only needed to come back.
 */
const APP_WIDE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/**
 * A message still failing at the end of a run is released invisible for this share of how long it has been
 * failing (up to RELEASE_WAIT_MAX_MS), not at once: each run that receives it again adds one to its SQS receive
 * count, and at QUEUE.maxReceiveCount (1000) SQS moves it to the DLQ itself, with no reason, about 17 hours
 * into an outage at one run a minute. With the wait, a day of outage costs about 250 receives (217 over 20
 * hours in test/core/drainer-outage.test.ts; a wait that ends as a run stops costs a second one), and delivery
 * resumes within a tenth of the outage (about 6 minutes at most, at the default maxRetryMs) once the app is
 * back.
 */
const RELEASE_WAIT_SHARE = 0.1;
const RELEASE_WAIT_MAX_MS = 5 * 60_000;
/**
 * A longer `maxRetryMs` (up to 14 days) raises that cap so the receives stay within half of SQS's limit over the
 * whole wait: up to two receives per wait (one as a run stops, one as the next starts), four waits' worth of
 * margin. At the default 24 h the cap is 5.8 minutes.
 */
const releaseWaitCapMs = (maxRetryMs: number): number =>
  Math.max(RELEASE_WAIT_MAX_MS, (4 * maxRetryMs) / QUEUE.maxReceiveCount);
/**
 * A failing message is dead-lettered this long before the queue's retention would have SQS delete it, unseen
 * (the DLQ keeps what the drainer moves there for a retention of its own). Longer than any release wait, so
 * the message is received and tried once more inside it.
 */
const EXPIRY_MARGIN_MS = 12 * 3_600_000;
/**
 * Slack after a released message became visible again within which the next runs normally receive it; time
 * beyond it (the drainer paused, down, or busy with other groups) is not counted as failing time.
 */
const RECEIVE_SLACK_MS = 5 * 60_000;
/** SQS's longest visibility timeout is 12 h from the receive; a run holds a message for minutes at most. */
const MAX_VISIBILITY_MS = 11 * 3_600_000;
/** Backoff for our own infrastructure calls (DynamoDB, S3, SQS) that failed. */
const INFRA_BASE_MS = 500;
// A claim-checked body that cannot be read (an error, not "gone") is retried all run, and dead-lettered as
// `body-missing` with the error once reading it has failed for BODY_READ_GIVE_UP_MS (the retry memory keeps
// since when) and BODY_READ_TRIES times in the run. Without a retry memory, the message's receive count
// stands in (about one run a minute).
const BODY_READ_GIVE_UP_MS = 30 * 60_000;
const BODY_READ_TRIES = 3;
const BODY_READ_MAX_RECEIVES = 30;
const INFRA_CAP_MS = 10_000;
/** What is kept of an app's answer or an error text in the DLQ record. */
const DETAIL_CHARS = 1_000;
/** How long past the downstream timeout a request may stay unanswered before the core gives up on it. */
const TIMEOUT_GRACE_MS = 1_000;
/** How often requests are checked for being overdue. */
const OVERDUE_CHECK_MS = 1_000;
/** Abort reason of a wake-up; not an error. */
const KICK = 'kick';
/** Consecutive wakes by events (no timer) after which the loop yields to the event loop once. */
const YIELD_EVERY_TURNS = 64;
/** How far behind a late timer the pacer's send slots may be booked (see dispatch). */
const CATCH_UP_MS = 10;
/** Delivered ids remembered in memory; only twins held at the same time need it (held ≤ MAX_HELD). */
const RECENT_IDS = 10 * MAX_HELD;
/** A run that delivered within this long is busy: its budget is extended (`extension`). */
const BUSY_MS = 10_000;
/** How long before `stopAt` an extension is decided: the receive loop stops polling within a second of it. */
const EXTEND_AHEAD_MS = 2_000;
/** Time kept back before `deadline` for releasing messages, saving the pacer and the lease. */
const EXIT_RESERVE_MS = 2_000;
/**
 * Delivered records are written together: a batch goes once this many are waiting, or MARK_LINGER_MS after
 * the first one (a state-store call costs far more CPU than a message's own work, so one per message set the
 * drainer's ceiling). 25 is one DynamoDB BatchWriteItem. The linger only delays the SQS delete.
 */
const MARK_BATCH = 25;
const MARK_LINGER_MS = 20;

type Prepared = { readonly envelope: Envelope; readonly body: string | Uint8Array };

/** One received message while this run holds it. */
interface Held {
  readonly msg: QueuedMessage;
  /** When its visibility should next be extended (epoch ms). */
  extendAt: number;
  prepared?: Prepared;
  /** Delivery attempts this run. */
  attempts: number;
  /** Failures that blame the message (see `blames`), which `maxAttempts` counts. */
  strikes: number;
  /** Consecutive transient failures this run. */
  failures: number;
  firstFailureAt?: number;
  /** When its latest attempt left, and when its latest failure came back (this run). */
  sentAt?: number;
  lastFailureAt?: number;
  /** When its release made it visible again (epoch ms), set as the run releases it. */
  dueAt?: number;
  /** Its latest failure in this run: the app's status and answer, or the error. */
  lastStatus?: number;
  lastDetail?: string;
  /** When its copy landed in the DLQ while the message itself could not be deleted (it comes back). */
  deadLetteredAt?: number;
  /** Sent as the one slow turn while the app refuses everything (REFUSING_STREAK). */
  slowTurn?: boolean;
}

/** A set that forgets its oldest entries beyond `limit`, so a long run's memory stays bounded. */
class RecentSet {
  private readonly items = new Set<string>();
  // A ring of the entries in insertion order: evicting through the Set's iterator would walk the holes
  // that deletions leave at its front, which made eviction slower the longer a run went on.
  private readonly ring: (string | undefined)[];
  private next = 0;
  constructor(limit: number) {
    this.ring = new Array<string | undefined>(limit);
  }
  has(id: string): boolean {
    return this.items.has(id);
  }
  add(id: string): void {
    if (this.items.has(id)) return;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.items.delete(evicted);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.ring.length;
    this.items.add(id);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** `{ [key]: value }`, or nothing when the value is absent (exactOptionalPropertyTypes-friendly). */
function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

function backoff(base: number, cap: number, failures: number): number {
  return Math.min(cap, base * 2 ** Math.max(0, failures - 1));
}

function validate(o: DrainerOptions): void {
  const fail = (field: string, value: unknown, allowed: string): never => {
    throw new DrainerOptionsError(`drainer option ${field} is ${JSON.stringify(value)}; allowed: ${allowed}`);
  };
  if (o.owner.length === 0) fail('owner', o.owner, 'a non-empty string');
  if (!/^https?:\/\//.test(o.downstreamUrl)) fail('downstreamUrl', o.downstreamUrl, 'an http(s) URL');
  if (o.secrets.filter((s) => s.length > 0).length === 0) fail('secrets', '(none)', 'at least one secret');
  if (!Number.isInteger(o.maxAttempts) || o.maxAttempts < 1)
    fail('maxAttempts', o.maxAttempts, 'an integer ≥ 1');
  if (!(o.maxRetryMs >= 0)) fail('maxRetryMs', o.maxRetryMs, 'a number ≥ 0');
  if (!(o.downstreamTimeoutMs > 0)) fail('downstreamTimeoutMs', o.downstreamTimeoutMs, 'a number > 0');
  if (!(o.deadline >= o.stopAt)) fail('deadline', o.deadline, `≥ stopAt (${o.stopAt})`);
  if (o.extension && !(o.extension.stepMs >= 1_000))
    fail('extension.stepMs', o.extension.stepMs, 'at least 1000');
  const vis = o.visibilitySeconds ?? DEFAULT_VISIBILITY_S;
  if (!Number.isInteger(vis) || vis < 3 || vis > 43_200)
    fail('visibilitySeconds', vis, 'an integer in 3..43200');
  const wait = o.receiveWaitSeconds ?? DEFAULT_RECEIVE_WAIT_S;
  if (!Number.isInteger(wait) || wait < 0 || wait > 20)
    fail('receiveWaitSeconds', wait, 'an integer in 0..20');
  try {
    createPacer(o.pacer, 0);
  } catch (e) {
    fail('pacer', o.pacer, e instanceof Error ? e.message : String(e));
  }
  const ttl = o.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  if (!(ttl >= 1_000)) fail('leaseTtlMs', ttl, 'a number ≥ 1000');
}

/**
 * Creates a drainer. One `run()` is one Lambda invocation (or one local-mode session): it takes the lease or
 * returns `lease-held` at once, then delivers until its time budget, and leaves nothing behind unreleased.
 */
export function createDrainer(deps: DrainerDeps, options: DrainerOptions): Drainer {
  validate(options);
  return new DrainerRun(deps, options);
}

class DrainerRun implements Drainer {
  private readonly clock: Clock;
  private readonly log: DrainerLog;
  private readonly leaseTtlMs: number;
  private readonly waitSeconds: number;
  private readonly visibilitySeconds: number;
  private readonly visibilityMs: number;
  private readonly controlsRefreshMs: number;
  private readonly secrets: readonly string[];

  private readonly scheduler = new Scheduler<Held>();
  /** Every async task this run started (sends, preparations, settlements, chores); awaited at exit. */
  private readonly tasks = new Set<Promise<void>>();
  /** Webhook ids delivered during this run: catches a duplicate held behind its twin in the same group. */
  private readonly deliveredIds = new RecentSet(RECENT_IDS);
  /** Requests out, for the overdue check. */
  private readonly outstanding = new Set<{
    readonly startedAt: number;
    readonly finish: (r: DeliveryResult) => void;
  }>();
  private pendingDeletes: string[] = [];
  private deleting = false;
  /** Delivered (or in-memory duplicate) messages whose record is not written yet; deleted only after it is. */
  private pendingMarks: { readonly id: string; readonly receiptHandle: string }[] = [];
  /** When the oldest pending mark was queued (epoch ms). */
  private marksSince = 0;
  private marking = false;
  /** The records being written now, until written or given up at exit (then shutdown deletes them). */
  private markingNow: {
    marks: readonly { readonly id: string; readonly receiptHandle: string }[];
    gaveUp: boolean;
  } = { marks: [], gaveUp: false };
  /** Dedup lookups queued in this turn of the event loop, asked together. */
  private pendingChecks: { readonly id: string; readonly done: (seen: boolean | undefined) => void }[] = [];
  private checking = false;
  private checkQueued = false;
  /** Aborted when shutdown stops waiting: ends the retries of delivered records. */
  private readonly exitAbort = new AbortController();

  private pacer: PacerState | undefined;
  private effectiveLimits: PacerOptions;
  private operatorPaused = false;
  /** When this run last had a webhook delivered (-∞: none yet). */
  private lastDeliveredAt = Number.NEGATIVE_INFINITY;
  /** Refusals for good since the last delivery (REFUSING_STREAK). */
  private refusedInARow = 0;
  /**
   * Refusals per shop since its last 2xx: outside a slow-down, the shops of the current run of refusals
   * (REFUSING_SHOPS); during one, which shops look gone (GONE_AFTER_REFUSALS).
   */
  private readonly refusalsByShop = new Map<string, number>();
  /** Webhooks this run parked (PARK_S) by shop, message id → latest receipt handle and when (unparkShop). */
  private readonly parked = new Map<string, Map<string, { handle: string; at: number }>>();
  private parkedCount = 0;
  /** The latest park call: a hand-back waits for it, so the 30-minute call cannot land after it. */
  private parking: Promise<unknown> = Promise.resolve();
  /** Share of answers that were failures to retry, averaged (POISON_FAIL_SHARE). */
  private failShare = 0;
  private refusingSince: number | undefined;
  private nextRefusingSendAt = 0;
  /** Unsendable messages waiting to head their group before their DLQ move (dropUnsendable). */
  private readonly headWaiters = new Map<Held, (headed: boolean) => void>();
  /** A slow turn is out (REFUSING_STREAK): the next waits for its answer. */
  private slowTurnOut = false;
  /** When each shop last had a slow turn (slow turns go round by shop, not by group). */
  private readonly slowTurnAt = new Map<string, number>();
  private lastParkAt = Number.NEGATIVE_INFINITY;
  /** When the app last accepted a webhook of each shop (oldest first), for ACCEPTED_LATELY_MS. */
  private readonly acceptedAt = new Map<string, number>();
  /**
   * The first failure (of the failing messages' first failures) among the app-wide failures of this run that
   * blamed no message: the app down or full for everyone since then, unless something was delivered after it.
   */
  private appFailingSince: number | undefined;
  private sending = 0;
  private started = false;
  private running = false;
  private stopping = false;
  private outcome: RunOutcome = 'stopped';
  private leaseLost = false;
  private leaseExpiresAt = 0;
  private emptySince: number | undefined;
  /** A receive is out. The idle exit waits for it: a long poll cut short keeps running past the run. */
  private polling = false;
  private lastError: string | undefined;
  /** What set the pace at the last save (`rate bound/window bound`), to log only changes. */
  private paceKey = '';
  private counters = { delivered: 0, retried: 0, deadLettered: 0, duplicates: 0 };
  /** Times this run's budget was extended while busy, and the `stopAt` last decided on. */
  private extensions = 0;
  private extendDecidedFor = Number.NaN;
  /** When to count the pending extensions' heartbeats (DrainerRuns), ascending. */
  private heartbeats: number[] = [];

  private nextRenewAt = 0;
  private nextControlsAt = 0;
  private nextPersistAt = 0;
  private nextExtendAt = 0;
  private nextOverdueAt = 0;
  private chores = new Set<string>();

  private kicked = false;
  /** Ends the main loop's wait (true: by a kick); set while it waits. */
  private wakeUp: ((byKick: boolean) => void) | undefined;
  /** The main loop's armed timer: when it fires, and its cancel. */
  private timerAt = Number.POSITIVE_INFINITY;
  private timerCancel: AbortController | undefined;
  /** The last dispatch stopped for want of a ready message (not the window or the pacer). */
  private starved = true;
  private receiverWake = new AbortController();
  private readonly receiveAbort = new AbortController();
  /** Take no new work after this; moved later while the run is busy (`extension`). */
  private stopAt: number;
  /** Everything released and the run returned by this; moves with `stopAt`. */
  private deadline: number;

  constructor(
    private readonly deps: DrainerDeps,
    private readonly options: DrainerOptions,
  ) {
    this.stopAt = options.stopAt;
    this.deadline = options.deadline;
    this.clock = deps.clock;
    this.log = deps.log ?? (() => {});
    this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.waitSeconds = options.receiveWaitSeconds ?? DEFAULT_RECEIVE_WAIT_S;
    this.visibilitySeconds = options.visibilitySeconds ?? DEFAULT_VISIBILITY_S;
    this.visibilityMs = this.visibilitySeconds * 1000;
    this.controlsRefreshMs = options.controlsRefreshMs ?? DEFAULT_CONTROLS_REFRESH_MS;
    this.secrets = options.secrets.filter((s) => s.length > 0);
    this.effectiveLimits = options.pacer;
  }

  deadlineAt(): number {
    return this.deadline;
  }

  status(): DrainerStatus {
    const now = this.clock.now();
    const p = this.pacer;
    const pace = p ? explainPace(p, now) : undefined;
    return {
      held: this.scheduler.held,
      inFlight: this.sending,
      ...this.counters,
      ratePerSecond: pace?.ratePerSecond ?? 0,
      window: pace?.window ?? 0,
      pausedUntil: p ? pausedUntil(p) : 0,
      ...(this.refusingSince !== undefined ? { refusingSince: this.refusingSince } : {}),
      ...(pace ? { pace } : {}),
      operatorPaused: this.operatorPaused,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      running: this.running,
    };
  }

  async run(): Promise<RunSummary> {
    if (this.started) throw new DrainerOptionsError('a drainer runs once; create a new one for the next run');
    this.started = true;
    this.running = true;
    const { state, metrics } = this.deps;
    metrics.add(METRICS.drainerRuns, 'Count', 1);
    const t0 = this.clock.now();
    if (!(await state.acquireLease(this.options.owner, t0, this.leaseTtlMs))) {
      this.log('info', 'lease held by another drainer; exiting', { owner: this.options.owner });
      this.running = false;
      metrics.flush();
      return { ...this.status(), outcome: 'lease-held' };
    }
    this.leaseExpiresAt = t0 + this.leaseTtlMs;
    try {
      const loaded = await state.load();
      const now = this.clock.now();
      this.pacer = createPacer(this.options.pacer, now, loaded.pacer);
      this.applyControls(loaded.controls, now);
      this.nextRenewAt = now + this.leaseTtlMs / 3;
      this.nextControlsAt = now + this.controlsRefreshMs;
      this.nextPersistAt = now + PERSIST_EVERY_MS;
      this.nextExtendAt = now + this.extendPeriod();
      this.log('info', 'drainer started', {
        owner: this.options.owner,
        ratePerSecond: ratePerSecond(this.pacer, now),
        resumed: loaded.pacer !== undefined,
      });
    } catch (e) {
      // Without state there is nothing safe to do: give the lease back and let the schedule try again.
      this.recordError('load', e);
      await this.safely('releaseLease', () => state.releaseLease(this.options.owner));
      this.running = false;
      metrics.flush();
      throw e;
    }
    const onAbort = (): void => this.kick();
    this.options.signal?.addEventListener('abort', onAbort);
    const receiver = this.receiveLoop();
    try {
      await this.mainLoop();
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
    }
    await this.shutdown(receiver);
    this.running = false;
    return { ...this.status(), outcome: this.outcome };
  }

  // ---- the main loop ---------------------------------------------------------------------------------

  private async mainLoop(): Promise<void> {
    try {
      await this.loop();
    } finally {
      // The run is over: messages waiting for their DLQ turn stay queued, released with the rest.
      for (const [item, resolve] of this.headWaiters) {
        this.headWaiters.delete(item);
        resolve(false);
      }
      this.timerCancel?.abort(KICK);
      this.timerCancel = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
    }
  }

  private async loop(): Promise<void> {
    let busyTurns = 0;
    for (;;) {
      this.kicked = false;
      const now = this.clock.now();
      if (this.checkStop(now)) return;
      this.wakeHeadWaiters();
      this.parkRefused(now);
      this.runChores(now);
      const pacedOut = this.dispatch(now);
      this.flushMarks(now);
      const wakeAt = this.nextWake(now, pacedOut);
      let woken = this.kicked;
      if (!woken) {
        this.armTimer(now, now + Math.max(1, Math.ceil(wakeAt - now)));
        woken = await new Promise<boolean>((resolve) => {
          this.wakeUp = resolve;
        });
      }
      busyTurns = woken ? busyTurns + 1 : 0;
      if (busyTurns >= YIELD_EVERY_TURNS) {
        // Against an instant app and queue, every wake is a microtask: let timers and I/O (the local
        // mode's HTTP server, its status line) run now and then.
        busyTurns = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  }

  /**
   * Makes sure the main loop wakes by `at`. A timer already armed for no later than that is kept (the loop
   * then wakes early, looks, and waits again): a kick ends a wait without touching the timer, so a busy
   * loop does not create and cancel a timer and an AbortController on every turn, which it did per message.
   */
  private armTimer(now: number, at: number): void {
    if (this.timerAt <= at) return;
    this.timerCancel?.abort(KICK);
    const cancel = new AbortController();
    this.timerAt = at;
    this.timerCancel = cancel;
    void this.clock.sleep(at - now, cancel.signal).then(() => {
      if (cancel.signal.aborted) return; // replaced by an earlier one, or the loop ended
      this.timerAt = Number.POSITIVE_INFINITY;
      this.timerCancel = undefined;
      this.resume(false);
    });
  }

  private resume(byKick: boolean): void {
    const wakeUp = this.wakeUp;
    if (wakeUp) {
      this.wakeUp = undefined;
      wakeUp(byKick);
    }
  }

  /** Wakes the main loop: something finished, arrived or changed. */
  private kick(): void {
    this.kicked = true;
    this.resume(true);
    // A fixed reason: the default one is a new DOMException with a stack, measured at a quarter of the CPU.
    if (!this.receiverWake.signal.aborted) this.receiverWake.abort(KICK);
  }

  private checkStop(now: number): boolean {
    if (this.leaseLost) return this.stop('lease-lost');
    if (this.options.signal?.aborted) return this.stop('aborted');
    if (now >= this.extendCheckAt()) {
      this.extendDecidedFor = this.stopAt;
      this.extendIfBusy(now);
    }
    if (now >= this.stopAt) return this.stop('stopped');
    if (now >= this.leaseExpiresAt) {
      // Renewals kept failing until the lease ran out: another drainer may own it now.
      this.leaseLost = true;
      return this.stop('lease-lost');
    }
    if (this.idleDue(now)) return this.stop('idle');
    return false;
  }

  /**
   * Nothing held or pending, the queue empty for `idleExitMs`, and no receive out. An abandoned long poll
   * would go on after the run returns (in Lambda, frozen with the function) and could take a webhook that
   * then stays invisible for the visibility timeout; so the exit comes between polls, and polls are cut to
   * end at the idle time (see receiveLoop).
   */
  private idleDue(now: number): boolean {
    const idle = this.options.idleExitMs;
    return (
      idle !== undefined &&
      this.emptySince !== undefined &&
      now - this.emptySince >= idle &&
      !this.polling &&
      this.scheduler.held === 0 &&
      this.tasks.size === 0 &&
      this.pendingDeletes.length === 0 &&
      this.pendingMarks.length === 0
    );
  }

  /** When the extension of the current budget is to be decided (never, without `extension` or once decided). */
  private extendCheckAt(): number {
    return this.options.extension && this.extendDecidedFor !== this.stopAt
      ? this.stopAt - EXTEND_AHEAD_MS
      : Number.POSITIVE_INFINITY;
  }

  /**
   * Moves the budget one step later while webhooks are being delivered, so a backlog keeps the app busy
   * through what would be this run's wind-down (`extension`). Decided a little before `stopAt`, so that polling
   * never pauses. Not while paused or failing (nothing delivered): those runs end and release as before.
   */
  private extendIfBusy(now: number): void {
    const ext = this.options.extension;
    if (!ext || this.operatorPaused || now - this.lastDeliveredAt > BUSY_MS) return;
    if (this.deadline + ext.stepMs > ext.latestDeadline) return;
    // Counted as a run started for this step would be, at the tick it replaces (just after the old deadline):
    // the dashboard's "one a minute" stays the healthy line through a long run.
    this.heartbeats.push(this.deadline + TICK_MARGIN_MS + 100);
    this.stopAt += ext.stepMs;
    this.deadline += ext.stepMs;
    this.extensions++;
  }

  private stop(outcome: RunOutcome): true {
    this.stopping = true;
    this.outcome = outcome;
    this.receiveAbort.abort();
    return true;
  }

  /** When the loop must look again; `pacedOut`: dispatch stopped only because of the pacer's spacing. */
  private nextWake(now: number, pacedOut: boolean): number {
    let at = Math.min(
      this.stopAt,
      this.extendCheckAt(),
      this.heartbeats[0] ?? Number.POSITIVE_INFINITY,
      this.leaseExpiresAt,
      this.nextRenewAt,
      this.nextControlsAt,
      this.nextPersistAt,
      this.nextExtendAt,
      this.outstanding.size > 0 ? this.nextOverdueAt : Number.POSITIVE_INFINITY,
    );
    const p = this.pacer!;
    if (pacedOut && this.scheduler.hasReady(now)) at = Math.min(at, earliestSend(p, now));
    if (
      this.refusingSince !== undefined &&
      !this.slowTurnOut &&
      this.canSend(now) &&
      this.sending < windowSize(p, now) &&
      this.scheduler.hasReady(now)
    ) {
      at = Math.min(at, Math.max(now, this.nextRefusingSendAt, earliestSend(p, now)));
    }
    const backoffEnd = this.scheduler.nextWakeAt(now);
    if (backoffEnd !== undefined) at = Math.min(at, backoffEnd);
    if (this.options.idleExitMs !== undefined && this.emptySince !== undefined) {
      // Once past, the idle exit waits for what still keeps it (a poll, work held), and each of those wakes
      // the loop as it ends; aiming at a past time would arm a 1 ms timer turn after turn.
      const idleAt = this.emptySince + this.options.idleExitMs;
      if (idleAt > now) at = Math.min(at, idleAt);
    }
    if (this.pendingMarks.length > 0 && !this.marking) at = Math.min(at, this.marksSince + MARK_LINGER_MS);
    return at;
  }

  private canSend(now: number): boolean {
    return !this.stopping && !this.leaseLost && !this.operatorPaused && now < this.leaseExpiresAt;
  }

  /**
   * Sends as many heads as the window and the pacer allow, round-robin across groups. True when it stopped
   * only because the next pacing slot is still ahead.
   */
  private dispatch(now: number): boolean {
    this.starved = true;
    if (!this.canSend(now)) return false;
    for (;;) {
      const p = this.pacer!;
      if (this.sending >= windowSize(p, now)) {
        this.starved = false;
        return false;
      }
      const slot = earliestSend(p, now);
      if (slot > now) {
        this.starved = false;
        return true;
      }
      let taken: ReturnType<typeof this.scheduler.take>;
      let slowTurn = false;
      if (this.refusingSince === undefined) taken = this.scheduler.take(now);
      else {
        // The app refuses everything: shops it accepted lately go at the pacer's rate, the rest take slow
        // turns, one at a time (its answer, or the gap's end, wakes the loop), shops not refused first.
        const shopOf = (item: Held): string => item.prepared?.envelope.shop ?? '';
        taken = this.scheduler.take(now, (item) => this.acceptedLately(shopOf(item), now));
        if (!taken) {
          if (this.slowTurnOut || now < this.nextRefusingSendAt) {
            this.starved = false;
            return false;
          }
          // Shops not refused first, then the shop whose last slow turn is oldest.
          taken = this.scheduler.takeBest(now, (item) => {
            const shop = shopOf(item);
            return (this.looksGone(shop) ? 1e15 : 0) + (this.slowTurnAt.get(shop) ?? 0);
          });
          if (taken) this.slowTurnAt.set(shopOf(taken.item), now);
          slowTurn = taken !== undefined;
        }
      }
      if (!taken) return false;
      const item = taken.item;
      const prepared = item.prepared!;
      if (this.deliveredIds.has(prepared.envelope.webhookId)) {
        // Its twin was delivered earlier in this run, after this one passed its dedup check.
        this.scheduler.finish(taken.group, 'done');
        this.duplicate(item, prepared.envelope.webhookId);
        continue;
      }
      // Book the send at its slot, not at `now`: a timer that fires late must not lower the average rate
      // below the pacer's. The slot is never before earliestSend, so no send falls inside a Retry-After
      // wait; CATCH_UP_MS bounds the burst after a late wake.
      if (slowTurn) {
        this.nextRefusingSendAt = now + REFUSING_GAP_MS;
        this.slowTurnOut = true;
        item.slowTurn = true;
      }
      this.send(item, prepared, now, Math.max(slot, now - CATCH_UP_MS));
    }
  }

  // ---- delivery ----------------------------------------------------------------------------------------

  private send(item: Held, prepared: Prepared, now: number, slot: number): void {
    item.attempts++;
    item.sentAt = now;
    this.pacer = onSend(this.pacer!, slot);
    this.sending++;
    // Requests in flight as this one leaves, itself included: the pacer learns a concurrency limit by level.
    const level = this.sending;
    const request = buildDelivery(
      this.options.downstreamUrl,
      prepared.envelope,
      prepared.body,
      item.attempts,
    );
    this.track(async () => {
      // The adapter enforces the timeout; the overdue chore only stops a broken adapter from stalling a group.
      let finish: (r: DeliveryResult) => void = () => {};
      const answered = new Promise<DeliveryResult>((resolve) => {
        finish = resolve;
      });
      const out = { startedAt: now, finish };
      this.outstanding.add(out);
      this.deps.downstream.post(request, this.options.downstreamTimeoutMs).then(finish, (e: unknown) =>
        // An adapter should map its failures to results; a throw is still a connection-level failure.
        finish({ kind: 'error', code: 'EXCEPTION', message: errorText(e), rttMs: this.clock.now() - now }),
      );
      const result = await answered;
      this.outstanding.delete(out);
      this.sending--;
      await this.settle(item, result, level);
    });
  }

  private async settle(item: Held, result: DeliveryResult, level: number): Promise<void> {
    const now = this.clock.now();
    if (item.slowTurn) {
      item.slowTurn = false;
      this.slowTurnOut = false;
    }
    const verdict = classify(result, now);
    const { metrics } = this.deps;
    metrics.add(METRICS.responses, 'Count', 1, { StatusClass: verdict.statusClass });
    metrics.add(METRICS.downstreamLatency, 'Milliseconds', result.rttMs);
    const pauseBefore = pausedUntil(this.pacer!);
    const metric = this.options.serviceTimeMetric;
    const serviceMs =
      metric && result.kind === 'response'
        ? serviceTimeMs(result.headers['server-timing'], metric)
        : undefined;
    const windowBefore = Math.floor(this.pacer!.delayWindow);
    // A webhook failing again with an error of its own (a 500 for its payload, a timeout of its own) while
    // others are delivered says nothing new about the app's load: its first failure was counted. Each retry
    // cutting the rate again let one poison webhook hold everyone at a few per second (20 groups, one 500-ing
    // webhook: 43 delivered in 15 s against ~2,000). "Too busy" (429, 503) and Retry-After always count.
    const failed = verdict.kind === 'retry' && !verdict.unsendable;
    const again =
      failed &&
      item.failures > 0 &&
      verdict.retryAfterMs === undefined &&
      !(verdict.status !== undefined && APP_WIDE_STATUSES.has(verdict.status)) &&
      this.failShare < POISON_FAIL_SHARE &&
      this.lastDeliveredAt > (item.lastFailureAt ?? Number.POSITIVE_INFINITY);
    // First tries only: counting the poison webhooks' own retries fed the share on itself (6 of them, 159
    // delivered against 8,005), while an overloaded app fails many first tries.
    if (item.failures === 0 && !(verdict.kind === 'retry' && verdict.unsendable)) {
      this.failShare += FAIL_SHARE_GAIN * ((failed ? 1 : 0) - this.failShare);
    }
    const signal: Signal = again ? { kind: 'unsent' } : signalOf(verdict, result.rttMs, level, serviceMs);
    this.pacer = onSignal(this.pacer!, signal, now);
    const windowAfter = Math.floor(this.pacer.delayWindow);
    if (windowAfter !== windowBefore) {
      this.deps.onWindowChange?.({
        at: now,
        from: windowBefore,
        to: windowAfter,
        rule: this.pacer.windowRule,
        baseRttMs: this.pacer.baseRttMs,
      });
    }
    const pauseAfter = pausedUntil(this.pacer);
    if (pauseAfter > Math.max(pauseBefore, now)) {
      metrics.add(METRICS.backoffTime, 'Milliseconds', pauseAfter - Math.max(pauseBefore, now));
    }
    const group = item.msg.groupId;
    switch (verdict.kind) {
      case 'delivered':
        this.accepted(item.prepared!.envelope.shop, now);
        this.delivered(item);
        this.scheduler.finish(group, 'done');
        break;
      case 'permanent':
        this.refused(item.prepared!.envelope.shop, verdict.status, now);
        await this.deadLetterHead(item, 'rejected', verdict.status, verdict.detail, now);
        break;
      case 'retry':
        await this.retry(item, verdict, now);
        break;
    }
    this.kick();
  }

  /** A refusal for good: counts towards "the app refuses everything" (REFUSING_STREAK). */
  private refused(shop: string, status: number | undefined, now: number): void {
    // A shop it accepted a moment ago refused now: the app broke for live shops too, none keeps its pace.
    if (this.acceptedLately(shop, now)) this.acceptedAt.clear();
    this.refusedInARow++;
    this.refusalsByShop.set(shop, (this.refusalsByShop.get(shop) ?? 0) + 1);
    if (
      this.refusingSince === undefined &&
      this.refusedInARow >= REFUSING_STREAK &&
      this.refusalsByShop.size >= REFUSING_SHOPS
    ) {
      this.refusingSince = now;
      this.log(
        'error',
        'your app refuses every webhook: sending one a second until it accepts one (each refused one goes to the DLQ as rejected); check its webhook route, its secret and what it answers',
        { refusedInARow: this.refusedInARow, shops: this.refusalsByShop.size, lastStatus: status },
      );
    }
  }

  /**
   * A delivery. Outside a slow-down it breaks the run of refusals. During one, a 2xx for a shop the app
   * accepted lately says nothing new (those go at the pacer's rate anyway); one for any other shop says the
   * app accepts webhooks again, and ends it.
   */
  private accepted(shop: string, now: number): void {
    const lately = this.acceptedLately(shop, now);
    // A shop whose webhooks were parked as gone is not: they are due now, not in 30 minutes (a fixed deploy).
    this.unparkShop(shop);
    this.refusalsByShop.delete(shop);
    this.acceptedAt.delete(shop);
    this.acceptedAt.set(shop, now);
    if (this.acceptedAt.size > ACCEPTED_SHOPS_MAX) {
      const oldest = this.acceptedAt.keys().next().value;
      if (oldest !== undefined) this.acceptedAt.delete(oldest);
    }
    if (this.refusingSince !== undefined) {
      if (lately) return;
      this.log('info', "your app accepts webhooks again: back to the pacer's rate", {
        refusedInARow: this.refusedInARow,
        slowedForMs: now - this.refusingSince,
      });
    }
    this.refusedInARow = 0;
    this.refusalsByShop.clear();
    this.refusingSince = undefined;
  }

  /** A shop refused GONE_AFTER_REFUSALS times with no 2xx since, during a slow-down. */
  private looksGone(shop: string): boolean {
    return (this.refusalsByShop.get(shop) ?? 0) >= GONE_AFTER_REFUSALS;
  }

  /**
   * Makes `shop`'s parked webhooks visible again. Only a 2xx for that very shop does: a live shop's 2xx
   * ending a slow-down must not bring back the uninstalled shops' leftovers that parking moved out of the way.
   */
  private unparkShop(shop: string): void {
    const mine = this.parked.get(shop);
    if (!mine) return;
    this.parked.delete(shop);
    this.parkedCount -= mine.size;
    // Parked longer ago than PARK_S: visible again already, and its handle may be stale (received since).
    const now = this.clock.now();
    const handles = [...mine.values()].filter((p) => now - p.at < PARK_S * 1000).map((p) => p.handle);
    if (handles.length === 0) return;
    const parking = this.parking;
    this.track(async () => {
      await parking;
      await this.safely('changeVisibility', () => this.deps.queue.changeVisibility(handles, 0));
    });
  }

  private acceptedLately(shop: string, now: number): boolean {
    const at = this.acceptedAt.get(shop);
    return at !== undefined && now - at < ACCEPTED_LATELY_MS;
  }

  private delivered(item: Held): void {
    this.lastDeliveredAt = this.clock.now();
    const id = item.prepared!.envelope.webhookId;
    this.deliveredIds.add(id);
    this.counters.delivered++;
    this.deps.metrics.add(METRICS.delivered, 'Count', 1);
    this.markLater(id, item.msg.receiptHandle);
  }

  /**
   * Queues a delivered record; the message is deleted once it is written. Record first, delete second: a
   * crash in between re-delivers the message, and the record stops it. A record still unwritten at exit (the
   * state store failing all run) does not keep its message: shutdown deletes it anyway, since a message kept
   * comes back and is certainly delivered again (after webhooks of its group the app already took), while a
   * deleted one is delivered again only if a twin of it arrives later.
   */
  private markLater(id: string, receiptHandle: string): void {
    if (this.pendingMarks.length === 0) this.marksSince = this.clock.now();
    this.pendingMarks.push({ id, receiptHandle });
    this.flushMarks(this.clock.now());
  }

  /**
   * Writes the waiting records when a batch is full, the linger has passed, the run is stopping, or the
   * drainer ran out of messages to send. That last one matters: SQS FIFO hands out no more of a group while
   * any of its messages is undeleted, so when the drainer starves, the deletes it holds back are what it
   * waits for. While it has plenty to send, a lingering delete costs no throughput.
   */
  private flushMarks(now: number): void {
    const marks = this.pendingMarks;
    if (this.marking || marks.length === 0) return;
    const due = this.stopping || this.starved || marks.length >= MARK_BATCH;
    if (!due && now < this.marksSince + MARK_LINGER_MS) return;
    this.pendingMarks = [];
    this.marking = true;
    const batch = { marks, gaveUp: false };
    this.markingNow = batch;
    this.track(async () => {
      const ids = marks.map((m) => m.id);
      const written = await this.retryUntilExit('markDelivered', () => this.markDelivered(ids));
      this.marking = false;
      // Given up at exit: shutdown has deleted these messages already (unwrittenMarks).
      if (written && !batch.gaveUp) {
        for (const m of marks) this.pendingDeletes.push(m.receiptHandle);
        if (!this.deleting) this.flushDeletes();
      }
      this.flushMarks(this.clock.now());
      this.kick();
    });
  }

  private markDelivered(ids: readonly string[]): Promise<unknown> {
    const { state } = this.deps;
    const now = this.clock.now();
    if (state.markDeliveredMany) return state.markDeliveredMany(ids, now);
    return Promise.all([...new Set(ids)].map((id) => state.markDelivered(id, now)));
  }

  private async retry(item: Held, verdict: Extract<Verdict, { kind: 'retry' }>, now: number): Promise<void> {
    item.failures++;
    item.firstFailureAt ??= now;
    if (verdict.unsendable || this.blames(item, verdict.status)) item.strikes++;
    else this.appFailingSince = Math.min(this.appFailingSince ?? now, item.firstFailureAt);
    item.lastFailureAt = now;
    item.lastStatus = verdict.status;
    item.lastDetail = verdict.detail;
    const exhausted =
      item.strikes >= this.options.maxAttempts || now - item.firstFailureAt >= this.options.maxRetryMs;
    if (exhausted) {
      await this.deadLetterHead(item, 'exhausted', verdict.status, verdict.detail, now);
      return;
    }
    this.counters.retried++;
    this.deps.metrics.add(METRICS.retried, 'Count', 1);
    const paced = verdict.status !== undefined && PACED_STATUSES.has(verdict.status);
    const failures = paced ? item.failures - PACED_FREE_RETRIES : item.failures;
    const own = failures > 0 ? backoff(RETRY_BASE_MS, RETRY_CAP_MS, failures) : 0;
    const wait = Math.max(own, verdict.retryAfterMs ?? 0);
    this.scheduler.finish(item.msg.groupId, 'retry', now + wait);
  }

  /**
   * Whether a failure counts against the message: any status the app chose for it (500, 408, …), and an
   * app-wide failure (APP_WIDE_STATUSES, or no answer at all) only when another webhook was delivered since
   * its previous failure, or since this attempt left.
   */
  private blames(item: Held, status: number | undefined): boolean {
    if (status !== undefined && !APP_WIDE_STATUSES.has(status)) return true;
    const since = item.lastFailureAt ?? item.sentAt ?? Number.NEGATIVE_INFINITY;
    return this.lastDeliveredAt > since;
  }

  /** Moves the group's head (currently out) to the DLQ; the group then moves on. */
  private async deadLetterHead(
    item: Held,
    reason: DeadLetterReason,
    status: number | undefined,
    detail: string,
    now: number,
  ): Promise<void> {
    const moved = await this.deadLetter(item, reason, status, detail, now);
    // If the DLQ stayed unreachable until shutdown, the message is released with the rest and retried next run.
    this.scheduler.finish(item.msg.groupId, moved ? 'done' : 'retry', moved ? 0 : Number.POSITIVE_INFINITY);
  }

  /** Sends a message to the DLQ with its failure, retrying our own infrastructure errors until shutdown. */
  private async deadLetter(
    item: Held,
    reason: DeadLetterReason,
    status: number | undefined,
    detail: string,
    now: number,
  ): Promise<boolean> {
    const info: DeadLetterInfo = {
      reason,
      ...(status !== undefined ? { status } : {}),
      detail: detail.slice(0, DETAIL_CHARS),
      attempts: item.attempts,
      failedAt: now,
      messageId: item.msg.messageId,
    };
    let receipt: DeadLetterReceipt | undefined;
    // Once the copy is in the DLQ, only the delete is retried: moving again would add a copy each time the
    // DLQ's 5-minute deduplication has passed.
    let copied = false;
    let stale = false;
    const ok = await this.withRetry('deadLetter', async () => {
      if (copied) {
        try {
          await this.deps.queue.deleteMessages([item.msg.receiptHandle]);
        } catch (e) {
          // A receipt SQS refuses for good (its visibility ran out): retrying cannot help.
          if ((e as { retryable?: unknown }).retryable !== false) throw e;
          stale = true;
        }
        return;
      }
      try {
        receipt = await this.deps.queue.deadLetter(item.msg, info);
      } catch (e) {
        if (e instanceof DeadLetterNotDeletedError) {
          copied = true;
          receipt = e.receipt;
        }
        throw e;
      }
    });
    if (!ok && !copied) return false; // still in the queue: it comes back and is tried again
    // The copy is in the DLQ: indexed and counted once, here, whether or not the message left the queue.
    this.indexDeadLetter(item, info, receipt);
    this.counters.deadLettered++;
    this.deps.metrics.add(METRICS.deadLettered, 'Count', 1, { Reason: reason });
    if (reason === 'signature') this.deps.metrics.add(METRICS.signatureFailures, 'Count', 1);
    this.log('warn', 'message dead-lettered', {
      reason,
      ...(status !== undefined ? { status } : {}),
      messageId: item.msg.messageId,
      attempts: item.attempts,
    });
    if (!ok || stale) {
      // Its copy is in the DLQ but the message is still in the queue: when it comes back, it is deleted.
      this.log('warn', 'dead letter copied but not deleted from the queue; it will come back', {
        messageId: item.msg.messageId,
        ...(stale ? { why: 'its receipt handle expired' } : {}),
      });
      await this.rememberDeadLettered(item);
      return false;
    }
    return true;
  }

  /**
   * Writes the dead letter's index record in the background, after the move: the DLQ message is the source of
   * truth, so a failed write is logged and counted, and neither blocks the group nor undoes the move.
   */
  private indexDeadLetter(item: Held, info: DeadLetterInfo, receipt: DeadLetterReceipt | undefined): void {
    const state = this.deps.state;
    if (!state.recordDeadLetter) return;
    const attr = (name: string): string | undefined => item.msg.attributes[name]?.StringValue || undefined;
    const record: DeadLetterRecord = {
      ...info,
      ...receipt,
      groupId: item.msg.groupId,
      ...optional('topic', attr(ATTR.topic)),
      ...optional('shop', attr(ATTR.shop)),
      ...optional('webhookId', attr(ATTR.webhookId)),
      ...optional('target', attr(ATTR.target)),
    };
    this.track(async () => {
      try {
        await state.recordDeadLetter?.(record);
      } catch (e) {
        this.deps.metrics.add(METRICS.deadLetterIndexFailures, 'Count', 1);
        this.log('warn', 'dead letter not indexed; `sluice dlq list` will show the index and the DLQ apart', {
          messageId: item.msg.messageId,
          error: errorText(e),
        });
      }
    });
  }

  /**
   * Deletes a duplicate. `twinId`: it was caught by this run's memory, whose record may still be unwritten,
   * so it waits for (and rewrites, idempotently) the record like a delivery; one found in the store goes now.
   */
  private duplicate(item: Held, twinId?: string): void {
    this.counters.duplicates++;
    this.deps.metrics.add(METRICS.duplicates, 'Count', 1);
    if (twinId !== undefined) this.markLater(twinId, item.msg.receiptHandle);
    else this.deleteLater(item.msg.receiptHandle);
  }

  // ---- intake and preparation --------------------------------------------------------------------------

  /** How many messages may be held: what the pacer sends well within a third of the visibility timeout. */
  private maxHeld(now: number): number {
    const p = this.pacer!;
    const byRate = Math.ceil((ratePerSecond(p, now) * this.visibilitySeconds) / 3);
    return Math.min(MAX_HELD, Math.max(windowSize(p, now) + 10, byRate));
  }

  private async receiveLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const now = this.clock.now();
      // While the operator pauses delivery, nothing is received: each receive of a message it could not send
      // would count towards SQS's receive limit, and a weekend's pause would dead-letter the queue's head.
      const room = this.operatorPaused ? 0 : this.maxHeld(now) - this.scheduler.held;
      if (room <= 0) {
        await this.waitForChange(this.waitSeconds * 1000 || 1000);
        continue;
      }
      if (this.idleDue(now)) {
        // Time to exit idle: no new poll; the main loop stops the run (and this wait) at once.
        this.kick();
        await this.waitForChange(1000);
        continue;
      }
      let wait = Math.min(this.waitSeconds, Math.max(0, Math.floor((this.stopAt - now) / 1000)));
      const idleAt =
        this.options.idleExitMs !== undefined && this.emptySince !== undefined
          ? this.emptySince + this.options.idleExitMs
          : undefined;
      // A poll on an empty queue ends when the idle exit is due, not up to 20 s after it.
      if (idleAt !== undefined && idleAt > now) wait = Math.min(wait, Math.ceil((idleAt - now) / 1000));
      if (wait === 0 && this.waitSeconds > 0) {
        // Under a second before stopAt: a new batch could not be worked on; wait for the stop instead.
        await this.clock.sleep(Math.max(1, this.stopAt - now), this.receiveAbort.signal);
        continue;
      }
      let batch: QueuedMessage[];
      this.polling = true;
      try {
        batch = await this.deps.queue.receive(
          Math.min(10, room),
          wait,
          this.visibilitySeconds,
          this.receiveAbort.signal,
        );
        failures = 0;
      } catch (e) {
        this.polling = false;
        failures++;
        this.recordError('receive', e);
        await this.clock.sleep(backoff(INFRA_BASE_MS, INFRA_CAP_MS, failures), this.receiveAbort.signal);
        continue;
      }
      this.polling = false;
      const at = this.clock.now();
      if (batch.length === 0) {
        this.emptySince ??= now;
      } else {
        this.emptySince = undefined;
      }
      for (const msg of batch) {
        // Messages that arrive after the stop was called are still held here, so shutdown releases them.
        const item: Held = {
          msg,
          extendAt: at + this.visibilityMs / 3,
          attempts: 0,
          strikes: 0,
          failures: 0,
        };
        this.scheduler.add(msg.groupId, item, false);
        this.track(() => this.prepare(item));
      }
      if (batch.length > 0) this.kick();
      // Short polling (receiveWaitSeconds 0) must not spin on an empty queue.
      else if (wait === 0) await this.clock.sleep(1000, this.receiveAbort.signal);
    }
  }

  /** Sleeps until the main loop is kicked or `ms` passes (used by the receiver when it has no room). */
  private waitForChange(ms: number): Promise<void> {
    // A fresh controller each time: only a kick after this point wakes the receiver, so it cannot spin.
    this.receiverWake = new AbortController();
    return this.clock.sleep(ms, AbortSignal.any([this.receiverWake.signal, this.receiveAbort.signal]));
  }

  /**
   * Decode → fetch a claim-checked body → verify the signature → dedup. A message that fails any of these
   * never reaches the app: it goes to the DLQ with the reason, or is deleted as a duplicate.
   */
  private async prepare(item: Held): Promise<void> {
    const { msg } = item;
    // A message seen before may have been failing in an earlier run (carry on counting from there), or be
    // back after its DLQ copy landed (only the delete is left): asked first, so neither a body nor a
    // signature that fails again moves it to the DLQ twice.
    const retries = this.deps.retries;
    let record: RetryRecord | undefined;
    if (retries && msg.receiveCount > 1) {
      await this.safely('retries.get', async () => {
        record = await retries.get(msg.messageId);
      });
    }
    if (record?.deadLetteredAt !== undefined) {
      if (this.scheduler.remove(msg.groupId, item)) {
        this.log('info', 'already in the DLQ; deleting the copy left in the queue', {
          messageId: msg.messageId,
        });
        this.deleteLater(msg.receiptHandle);
        this.kick();
      }
      return;
    }
    let decoded: { envelope: Envelope; body: string };
    try {
      decoded = decode(msg.body, msg.attributes);
    } catch (e) {
      const detail = e instanceof ContractError ? e.message : errorText(e);
      await this.dropUnsendable(item, 'contract', detail);
      return;
    }
    const { envelope } = decoded;
    const unsafe = unsafeTarget(envelope.target);
    if (unsafe) {
      await this.dropUnsendable(item, 'contract', `${unsafe}: it would leave the downstream URL's path`);
      return;
    }
    let body: string | Uint8Array = decoded.body;
    if (envelope.claimCheck !== undefined) {
      const bodies = this.deps.bodies;
      if (!bodies) {
        await this.dropUnsendable(item, 'body-missing', 'no claim-check body store is configured');
        return;
      }
      const key = envelope.claimCheck;
      let stored: Uint8Array | undefined;
      let lastError: unknown;
      let failures = 0;
      let failingSince = Number.POSITIVE_INFINITY;
      let gaveUp = false;
      const got = await this.withRetry('bodies.get', async () => {
        try {
          stored = await bodies.get(key);
        } catch (e) {
          lastError = e;
          failures++;
          if (failures === 1) failingSince = await this.bodyFailingSince(msg);
          if (failures >= BODY_READ_TRIES && this.clock.now() - failingSince >= BODY_READ_GIVE_UP_MS) {
            gaveUp = true;
            return;
          }
          throw e;
        }
      });
      if (!got) return; // shutting down: released with the rest
      if (gaveUp) {
        // Failing run after run for half an hour (a bucket policy or key that denies us, say): the message
        // would otherwise come back each minute, with its group behind it, until SQS's own redrive moved them
        // all to the DLQ a day later without a reason.
        const minutes = Math.round((this.clock.now() - failingSince) / 60_000);
        const detail = `claim-checked body ${key} could not be read for ${minutes} min: ${errorText(lastError)}`;
        await this.dropUnsendable(item, 'body-missing', detail);
        return;
      }
      if (stored === undefined) {
        await this.dropUnsendable(item, 'body-missing', `claim-checked body ${key} is gone`);
        return;
      }
      body = stored;
    }
    if (!verify(body, envelope.hmac, this.secrets)) {
      await this.dropUnsendable(item, 'signature', 'the body does not match its signature under any secret');
      return;
    }
    if (this.deliveredIds.has(envelope.webhookId)) {
      if (this.scheduler.remove(msg.groupId, item)) this.duplicate(item, envelope.webhookId);
      return;
    }
    const seen = await this.wasDelivered(envelope.webhookId);
    if (seen === undefined) return; // shutting down: released with the rest
    if (seen) {
      if (this.scheduler.remove(msg.groupId, item)) this.duplicate(item);
      return;
    }
    // A record with no attempts was written for a body that failed to read: no delivery failed yet.
    const past: RetryRecord | undefined = record;
    if (past && past.attempts > 0) {
      item.attempts = Math.max(item.attempts, past.attempts);
      item.strikes = Math.max(item.strikes, past.strikes ?? past.attempts);
      // The time it then sat visible, unreceived, beyond a run or two, was not spent failing.
      const unseen = past.dueAt !== undefined ? this.clock.now() - past.dueAt - RECEIVE_SLACK_MS : 0;
      item.firstFailureAt = past.firstFailureAt + Math.max(0, unseen);
    }
    item.prepared = { envelope, body };
    this.scheduler.markReady(item);
    this.kick();
  }

  /**
   * The dedup check; undefined when the run stopped before the store answered. Checks go to the store
   * together: those asked in the same turn of the event loop (a receive's batch prepares synchronously up to
   * here), and those asked while the previous lookup was out (one lookup at a time, up to a receive's worth).
   */
  private wasDelivered(id: string): Promise<boolean | undefined> {
    return new Promise((done) => {
      this.pendingChecks.push({ id, done });
      if (!this.checking && !this.checkQueued) {
        this.checkQueued = true;
        queueMicrotask(() => this.flushChecks());
      }
    });
  }

  private flushChecks(): void {
    this.checkQueued = false;
    const checks = this.pendingChecks;
    if (checks.length === 0) return;
    this.pendingChecks = [];
    this.checking = true;
    this.track(async () => {
      let seen: ReadonlySet<string> = new Set();
      const ids = checks.map((c) => c.id);
      const ok = await this.withRetry('wasDelivered', async () => {
        seen = await this.lookUpDelivered(ids);
      });
      this.checking = false;
      for (const c of checks) c.done(ok ? seen.has(c.id) : undefined);
      this.flushChecks();
    });
  }

  private async lookUpDelivered(ids: readonly string[]): Promise<ReadonlySet<string>> {
    const { state } = this.deps;
    const now = this.clock.now();
    if (state.wasDeliveredMany) return state.wasDeliveredMany(ids, now);
    const unique = [...new Set(ids)];
    const answers = await Promise.all(unique.map((id) => state.wasDelivered(id, now)));
    return new Set(unique.filter((_, i) => answers[i]));
  }

  /**
   * Since when reading this message's claim-checked body has been failing, kept in the retry memory so it
   * spans runs (a message received often only because it waited behind a failing one is not failing itself).
   * The first failure starts the clock; time between a run's failure and the next beyond RECEIVE_SLACK_MS
   * (the drainer paused, down or busy elsewhere) is not counted, as for delivery failures. A record written
   * only for this has no attempts, and says nothing of delivery (see prepare). Without a retry memory: its
   * receive count stands in for runs.
   */
  private async bodyFailingSince(msg: QueuedMessage): Promise<number> {
    const now = this.clock.now();
    const retries = this.deps.retries;
    if (!retries) return msg.receiveCount >= BODY_READ_MAX_RECEIVES ? Number.NEGATIVE_INFINITY : now;
    let record: RetryRecord | undefined;
    const read = await this.safely('retries.get', async () => {
      record = await retries.get(msg.messageId);
    });
    if (!read) return now;
    const last = record?.bodyFailedAt;
    const unseen = last !== undefined ? Math.max(0, now - last - RECEIVE_SLACK_MS) : 0;
    const since =
      record?.bodyFailingSince !== undefined && last !== undefined ? record.bodyFailingSince + unseen : now;
    const updated: RetryRecord = {
      ...(record ?? { attempts: 0, firstFailureAt: now }),
      bodyFailingSince: since,
      bodyFailedAt: now,
    };
    await this.safely('retries.put', () => retries.put(msg.messageId, updated, now));
    return since;
  }

  /**
   * Notes in the retry memory that this message's copy is in the DLQ, so that when it comes back it is deleted
   * rather than sent to the app and moved once more. Kept on the item too: the record written as the run
   * releases it (rememberRetries) carries it on.
   */
  private async rememberDeadLettered(item: Held): Promise<void> {
    const now = this.clock.now();
    item.deadLetteredAt = now;
    const retries = this.deps.retries;
    if (!retries) return;
    let record: RetryRecord | undefined;
    await this.safely('retries.get', async () => {
      record = await retries.get(item.msg.messageId);
    });
    const kept: RetryRecord = record ?? { attempts: 0, firstFailureAt: now };
    const updated: RetryRecord = {
      ...kept,
      attempts: Math.max(kept.attempts, item.attempts),
      strikes: Math.max(kept.strikes ?? kept.attempts, item.strikes),
      deadLetteredAt: now,
    };
    await this.safely('retries.put', () => retries.put(item.msg.messageId, updated, now));
  }

  /**
   * A message that can never be delivered: to the DLQ, once everything before it in its group has left, so
   * that a group's dead letters land in the DLQ in queue order (a redrive sends them back in DLQ order).
   * Moved at once, several of a group received together raced each other's sends (and a throttled one came
   * in behind the rest); and one moved while a webhook ahead of it was still being tried landed first.
   */
  private async dropUnsendable(item: Held, reason: DeadLetterReason, detail: string): Promise<void> {
    if (!(await this.untilHead(item))) return; // the run ended first: released with the rest
    if (await this.deadLetter(item, reason, undefined, detail, this.clock.now())) {
      this.scheduler.remove(item.msg.groupId, item);
      this.kick();
    }
  }

  /** Hands refused shops' groups back to the queue for a while when they fill the drainer (PARK_S). */
  private parkRefused(now: number): void {
    if (this.refusingSince === undefined || now - this.lastParkAt < PARK_EVERY_MS) return;
    if (this.stopping || this.scheduler.held < this.maxHeld(now)) return;
    for (const item of this.scheduler.items()) {
      // Waiting to go to the DLQ behind its group's head: it moves with its group (park keeps it).
      if (this.headWaiters.has(item)) continue;
      const shop = item.prepared?.envelope.shop;
      // Still being prepared (it may be a live shop's), or a shop that may be live: its slow turn comes first.
      if (shop === undefined || !this.looksGone(shop)) return;
    }
    this.lastParkAt = now;
    const kept = new Set<string>();
    const parked = this.scheduler.park((items) => {
      const shop = items[0]?.prepared?.envelope.shop ?? '';
      if (!this.looksGone(shop)) return false;
      if (kept.has(shop)) return true;
      kept.add(shop);
      return false;
    });
    if (parked.length === 0) return;
    this.log(
      'info',
      "parked refused shops' webhooks back in the queue for 30 min, to reach what lies behind them",
      {
        parked: parked.length,
        shops: kept.size,
      },
    );
    const handles = parked.map((item) => item.msg.receiptHandle);
    for (const item of parked) {
      const shop = item.prepared?.envelope.shop ?? '';
      let mine = this.parked.get(shop);
      if (!mine) {
        mine = new Map();
        this.parked.set(shop, mine);
      }
      if (!mine.has(item.msg.messageId)) this.parkedCount++;
      mine.set(item.msg.messageId, { handle: item.msg.receiptHandle, at: now });
    }
    // Beyond the cap the oldest shops' are forgotten: they come back when their 30 minutes end.
    for (const [shop, mine] of this.parked) {
      if (this.parkedCount <= PARKED_KEPT_MAX) break;
      this.parked.delete(shop);
      this.parkedCount -= mine.size;
    }
    // A failed change only makes them visible again when their current visibility ends: they come back.
    const call = this.safely('changeVisibility', () => this.deps.queue.changeVisibility(handles, PARK_S));
    // A hand-back waits for every park call still out, not only the latest.
    this.parking = Promise.all([this.parking, call]).then(() => undefined);
    this.track(async () => {
      await call;
    });
    this.kick();
  }

  /** Resolves true once `item` heads its group, false if the run ends first. */
  private untilHead(item: Held): Promise<boolean> {
    if (this.scheduler.isHead(item.msg.groupId, item)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => this.headWaiters.set(item, resolve));
  }

  /** Lets the messages that now head their groups go to the DLQ (dropUnsendable). */
  private wakeHeadWaiters(): void {
    for (const [item, resolve] of this.headWaiters) {
      if (!this.scheduler.isHead(item.msg.groupId, item)) continue;
      this.headWaiters.delete(item);
      resolve(true);
    }
  }

  // ---- chores: lease, controls, persistence, visibility, deletes ----------------------------------------

  private runChores(now: number): void {
    while (this.heartbeats.length > 0 && now >= this.heartbeats[0]!) {
      this.heartbeats.shift();
      this.deps.metrics.add(METRICS.drainerRuns, 'Count', 1);
    }
    if (now >= this.nextRenewAt) {
      this.nextRenewAt = now + this.leaseTtlMs / 3;
      this.chore('renew', async () => {
        const at = this.clock.now();
        try {
          if (await this.deps.state.renewLease(this.options.owner, at, this.leaseTtlMs)) {
            this.leaseExpiresAt = at + this.leaseTtlMs;
          } else {
            this.log('warn', 'lease lost to another drainer; stopping', { owner: this.options.owner });
            this.leaseLost = true;
            this.kick();
          }
        } catch (e) {
          // Keep going on the current lease; checkStop ends the run if it runs out before a renewal works.
          this.recordError('renewLease', e);
        }
      });
    }
    if (now >= this.nextControlsAt) {
      this.nextControlsAt = now + this.controlsRefreshMs;
      this.chore('controls', async () => {
        try {
          const { controls } = await this.deps.state.load();
          this.applyControls(controls, this.clock.now());
          this.kick();
        } catch (e) {
          this.recordError('load', e);
        }
      });
    }
    if (now >= this.nextPersistAt) {
      this.nextPersistAt = now + PERSIST_EVERY_MS;
      this.chore('persist', () => this.persist());
    }
    if (now >= this.nextExtendAt) {
      this.nextExtendAt = now + this.extendPeriod();
      this.chore('extend', () => this.extendVisibility(now + this.extendPeriod()));
    }
    if (this.pendingDeletes.length > 0 && !this.deleting) this.flushDeletes();
    if (now >= this.nextOverdueAt) {
      this.nextOverdueAt = now + OVERDUE_CHECK_MS;
      const limit = now - this.options.downstreamTimeoutMs - TIMEOUT_GRACE_MS;
      for (const out of this.outstanding) {
        if (out.startedAt <= limit) out.finish({ kind: 'timeout', rttMs: now - out.startedAt });
      }
    }
  }

  /** Runs a background chore unless the same one is still running. */
  private chore(name: string, fn: () => Promise<void>): void {
    if (this.chores.has(name)) return;
    this.chores.add(name);
    this.track(async () => {
      try {
        await fn();
      } finally {
        this.chores.delete(name);
      }
    });
  }

  private extendPeriod(): number {
    return this.visibilityMs / 6;
  }

  /** Extends every held message whose visibility would run low before `horizon`. */
  private async extendVisibility(horizon: number): Promise<void> {
    const due: Held[] = [];
    for (const item of this.scheduler.items()) if (item.extendAt <= horizon) due.push(item);
    if (due.length === 0) return;
    const ok = await this.safely('changeVisibility', () =>
      this.deps.queue.changeVisibility(
        due.map((i) => i.msg.receiptHandle),
        this.visibilitySeconds,
      ),
    );
    if (!ok) return;
    const next = this.clock.now() + this.visibilityMs / 3;
    for (const item of due) item.extendAt = next;
  }

  private deleteLater(receiptHandle: string): void {
    this.pendingDeletes.push(receiptHandle);
    if (!this.deleting) this.flushDeletes();
  }

  /** Deletes in batches: whatever accumulated while the previous delete call was out goes in the next. */
  private flushDeletes(): void {
    const handles = this.pendingDeletes;
    if (handles.length === 0) return;
    this.pendingDeletes = [];
    this.deleting = true;
    this.track(async () => {
      // A failed delete is not a loss: the message comes back, and its delivered record makes it a duplicate.
      await this.safely('deleteMessages', () => this.deps.queue.deleteMessages(handles));
      this.deleting = false;
      if (this.pendingDeletes.length > 0) this.flushDeletes();
      else this.kick();
    });
  }

  private applyControls(controls: OperatorControls, now: number): void {
    const base = this.options.pacer;
    const ceilingPerSecond = controls.ceilingPerSecond ?? base.ceilingPerSecond;
    const floor = controls.floorPerSecond ?? base.floorPerSecond;
    // `sluice rate --floor 300` under the configured ceiling of 200 (or `--ceiling 1` over a configured floor):
    // the ceiling wins, said once, instead of the pacer refusing the pair at every refresh.
    const floorPerSecond = Math.min(floor, ceilingPerSecond);
    const limits: PacerOptions = { ...base, floorPerSecond, ceilingPerSecond };
    if (controls.paused !== this.operatorPaused) {
      this.log('info', controls.paused ? 'paused by operator' : 'resumed by operator');
      this.operatorPaused = controls.paused;
    }
    if (
      limits.floorPerSecond === this.effectiveLimits.floorPerSecond &&
      limits.ceilingPerSecond === this.effectiveLimits.ceilingPerSecond
    ) {
      return;
    }
    if (controls.floorPerSecond !== undefined && floor > ceilingPerSecond) {
      this.log('warn', 'the floor is above the ceiling: the ceiling applies', {
        floorPerSecond: floor,
        ceilingPerSecond,
      });
    }
    try {
      this.pacer = configure(this.pacer!, limits, now);
      this.effectiveLimits = limits;
    } catch (e) {
      this.recordError('operator controls rejected', e);
    }
  }

  private async persist(): Promise<void> {
    const p = this.pacer!;
    const now = this.clock.now();
    const { metrics } = this.deps;
    const pace = explainPace(p, now);
    metrics.add(METRICS.pacingRate, 'Count/Second', pace.ratePerSecond);
    metrics.add(METRICS.pacingWindow, 'Count', pace.window);
    metrics.flush();
    this.logPace(pace);
    if (!this.leaseLost) {
      await this.safely('savePacer', () => this.deps.state.savePacer(this.options.owner, p, now));
    }
  }

  /**
   * Logs what sets the pace when it changes (checked at each save): the history behind the dashboard's pacing
   * graph, in the log (`message = "pace"`), which the dashboard's "Why this pace" query reads.
   */
  private logPace(e: PaceExplanation): void {
    const key = `${e.rateBound}/${e.windowBound}`;
    if (key === this.paceKey) return;
    this.paceKey = key;
    this.log('info', 'pace', {
      setBy: e.rateBound,
      ratePerSecond: Math.round(e.ratePerSecond * 10) / 10,
      window: e.window,
      windowSetBy: e.windowBound,
      ...(e.learnedLimitPerSecond !== undefined
        ? { learnedLimitPerSecond: Math.round(e.learnedLimitPerSecond * 10) / 10 }
        : {}),
      ...(e.queuesWork !== undefined ? { queuesWork: e.queuesWork } : {}),
    });
  }

  // ---- shutdown ----------------------------------------------------------------------------------------

  /** At exit: delivered messages whose records are still unwritten are deleted with the rest (see markLater). */
  private unwrittenMarks(): void {
    const batch = this.marking ? this.markingNow : undefined;
    const unwritten = [...(batch?.marks ?? []), ...this.pendingMarks];
    if (unwritten.length === 0) return;
    if (batch) batch.gaveUp = true;
    this.pendingMarks = [];
    for (const m of unwritten) this.pendingDeletes.push(m.receiptHandle);
    this.log('warn', 'delivered records not written by the deadline; deleting those messages anyway', {
      messages: unwritten.length,
      effect: 'a later copy of one of these webhooks (a twin) would be delivered again',
    });
  }

  private async shutdown(receiver: Promise<void>): Promise<void> {
    const now = this.clock.now();
    const waitUntil = Math.max(now, this.deadline - Math.min(EXIT_RESERVE_MS, (this.deadline - now) / 2));
    await this.until(receiver, waitUntil);
    // Stopping: records still lingering are written now (and any that come with answers still out).
    this.flushMarks(this.clock.now());
    // Answers to requests already out are worth waiting for: a 2xx settled now is not re-delivered next run.
    for (let rounds = 0; this.tasks.size > 0 && this.clock.now() < waitUntil && rounds < 100_000; rounds++) {
      await this.until(Promise.race([...this.tasks]), waitUntil);
    }
    this.exitAbort.abort();
    this.unwrittenMarks();
    if (this.tasks.size > 0) {
      this.log(
        'warn',
        'deadline reached with work outstanding; those messages reappear after their visibility',
        {
          outstanding: this.tasks.size,
          inFlight: this.sending,
        },
      );
    }
    if (this.pendingDeletes.length > 0) {
      const handles = this.pendingDeletes;
      this.pendingDeletes = [];
      await this.safely('deleteMessages', () => this.deps.queue.deleteMessages(handles));
    }
    const release: Held[] = [];
    for (const item of this.scheduler.drain()) {
      // A failing webhook this close to the queue's retention might not be received again before SQS deletes
      // it unseen (the drainer paused or down): it goes to the DLQ, with its last failure, instead.
      const at = this.clock.now();
      if (item.firstFailureAt !== undefined && at >= this.expiringAt(item) && !this.leaseLost) {
        const detail = `${item.lastDetail ?? 'failing'}; dead-lettered ${Math.round((this.expiringAt(item) + EXPIRY_MARGIN_MS - at) / 3_600_000)} h before the queue's retention would delete it`;
        if (await this.deadLetter(item, 'exhausted', item.lastStatus, detail, at)) continue;
      }
      release.push(item);
    }
    // Released visible again at once, or after a wait (releaseWaitMs); one call per wait, in whole seconds.
    const byWait = new Map<number, string[]>();
    const releasedAt = this.clock.now();
    for (const item of release) {
      const seconds = Math.ceil(this.releaseWaitMs(item, releasedAt) / 1000);
      item.dueAt = releasedAt + seconds * 1000;
      const handles = byWait.get(seconds) ?? [];
      handles.push(item.msg.receiptHandle);
      byWait.set(seconds, handles);
    }
    await this.rememberRetries(release);
    for (const [seconds, handles] of byWait) {
      await this.safely('changeVisibility', () => this.deps.queue.changeVisibility(handles, seconds));
    }
    if (!this.leaseLost) {
      await this.persist();
      await this.safely('releaseLease', () => this.deps.state.releaseLease(this.options.owner));
    } else {
      this.deps.metrics.flush();
    }
    this.log('info', 'drainer stopped', {
      outcome: this.outcome,
      released: release.length,
      ...this.counters,
      ...(this.extensions > 0 ? { extendedBy: this.extensions * (this.options.extension?.stepMs ?? 0) } : {}),
    });
  }

  /**
   * How long a released message stays invisible: nothing may be sent during the app's Retry-After anyway, and
   * a message that failed in this run and keeps failing waits a share of how long it has failed
   * (RELEASE_WAIT_SHARE), but never past the moment it is due to be dead-lettered as exhausted.
   */
  private releaseWaitMs(item: Held, now: number): number {
    let wait = this.pacer ? Math.max(0, pausedUntil(this.pacer) - now) : 0;
    const cap = releaseWaitCapMs(this.options.maxRetryMs);
    if (item.firstFailureAt !== undefined && item.lastFailureAt !== undefined) {
      // A message that failed in this run.
      const failingFor = now - item.firstFailureAt;
      const spacing = Math.min(cap, RELEASE_WAIT_SHARE * failingFor);
      const untilExhausted = Math.max(0, item.firstFailureAt + this.options.maxRetryMs - now);
      wait = Math.max(wait, Math.min(spacing, untilExhausted));
    } else if (this.appFailingSince !== undefined && this.lastDeliveredAt < this.appFailingSince) {
      // Not tried in this run while the app failed for everyone and delivered nothing (a long Retry-After lets
      // a run try one webhook or none): it waits as the failing ones do. Released with only the rest of the
      // pause, it would be received again every run and reach SQS's receive limit within a day.
      wait = Math.max(wait, Math.min(cap, RELEASE_WAIT_SHARE * (now - this.appFailingSince)));
    }
    // Back by its expiry point, so a run holds it then (and dead-letters it if it is still failing).
    wait = Math.min(wait, Math.max(0, this.expiringAt(item) - now));
    return Math.min(wait, MAX_VISIBILITY_MS);
  }

  /** From when a failing message is dead-lettered as a run releases it, rather than released (its age nears the retention). */
  private expiringAt(item: Held): number {
    const retention = this.options.queueRetentionMs ?? QUEUE.retentionSeconds * 1000;
    // Without SQS's SentTimestamp (0) the age is unknown: no guard rather than a wrong one.
    return item.msg.sentAt > 0 ? item.msg.sentAt + retention - EXPIRY_MARGIN_MS : Number.POSITIVE_INFINITY;
  }

  /** Saves the progress of released messages that were failing, so the next run keeps counting. */
  private async rememberRetries(released: readonly Held[]): Promise<void> {
    const retries = this.deps.retries;
    if (!retries) return;
    const now = this.clock.now();
    await Promise.all(
      released.flatMap((item) =>
        item.firstFailureAt === undefined
          ? []
          : [
              this.safely('retries.put', () =>
                retries.put(
                  item.msg.messageId,
                  {
                    attempts: item.attempts,
                    strikes: item.strikes,
                    firstFailureAt: item.firstFailureAt!,
                    ...(item.dueAt !== undefined ? { dueAt: item.dueAt } : {}),
                    ...(item.deadLetteredAt !== undefined ? { deadLetteredAt: item.deadLetteredAt } : {}),
                  },
                  now,
                ),
              ),
            ],
      ),
    );
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  /** Waits for `promise` or until `at` (epoch ms), whichever comes first, leaving no timer behind. */
  private async until(promise: Promise<unknown>, at: number): Promise<void> {
    const cancel = new AbortController();
    try {
      await Promise.race([promise, this.clock.sleep(Math.max(0, at - this.clock.now()), cancel.signal)]);
    } finally {
      cancel.abort();
    }
  }

  private track(fn: () => Promise<void>): void {
    const p: Promise<void> = fn()
      .catch((e: unknown) => this.recordError('task', e))
      .finally(() => {
        this.tasks.delete(p);
        this.kick();
      });
    this.tasks.add(p);
  }

  /** Calls our own infrastructure once; logs a failure and reports it as false. */
  private async safely(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (e) {
      this.recordError(what, e);
      return false;
    }
  }

  /** Retries our own infrastructure with backoff until it works or the run is stopping (then false). */
  private async withRetry(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    for (let failures = 1; ; failures++) {
      if (await this.safely(what, fn)) return true;
      if (this.stopping) return false;
      await this.clock.sleep(backoff(INFRA_BASE_MS, INFRA_CAP_MS, failures), this.receiveAbort.signal);
      if (this.stopping) return false;
    }
  }

  /**
   * Retries our own infrastructure with backoff until it works or shutdown stops waiting (then false). For
   * delivered records: they are worth writing after `stopAt` too, since their messages are deleted only then.
   */
  private async retryUntilExit(what: string, fn: () => Promise<unknown>): Promise<boolean> {
    for (let failures = 1; failures <= 10_000; failures++) {
      if (await this.safely(what, fn)) return true;
      if (this.exitAbort.signal.aborted) return false;
      await this.clock.sleep(backoff(INFRA_BASE_MS, INFRA_CAP_MS, failures), this.exitAbort.signal);
      if (this.exitAbort.signal.aborted) return false;
    }
    return false;
  }

  private recordError(what: string, e: unknown): void {
    this.lastError = `${what}: ${errorText(e)}`;
    this.log('error', `${what} failed`, { error: errorText(e) });
  }
}
