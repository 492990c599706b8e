/** Local mode's live status: one line redrawn in a terminal, plain periodic lines elsewhere (CI, tests). */

/** One reading of everything the status line shows. */
export interface StatusSample {
  /** Webhooks the API answered 200 (both routes). */
  readonly received: number;
  /** Requests the API turned away (4xx/5xx). */
  readonly refused: number;
  /** Visible messages in the webhook queue. */
  readonly queued: number;
  /** Messages the drainer holds (received, not yet deleted). */
  readonly inFlight: number;
  /** Deliveries the app accepted since start. */
  readonly delivered: number;
  /** Delivered per second over the last interval. */
  readonly deliveredPerSecond: number;
  /** The pacer's current rate, requests/s (undefined before the first run). */
  readonly ratePerSecond?: number;
  /** The pacer's window (requests in flight allowed). */
  readonly window?: number;
  /** A few words on what sets the pace (core/pace-text.ts paceTag), e.g. `learned limit`; not shown while paused. */
  readonly paceSetBy?: string;
  /** Messages in the DLQ. */
  readonly deadLetters: number;
  /** Why delivery is paused (operator pause, Retry-After), when it is. */
  readonly paused?: string;
  /** What the last delivery attempts said about the app (`refusing`: it refuses everything, see the drainer). */
  readonly downstream: 'ok' | 'idle' | 'overloaded' | 'unreachable' | 'refusing';
}

const num = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * The status line, e.g. `received 2,000 │ queued 1,540 │ in flight 4 │ delivered 456 (48.0/s) │ …`. Alerts
 * (a pause, an app down or refusing, failing signatures) come first: a narrow terminal cuts the end.
 */
export function formatStatus(s: StatusSample): string {
  const alerts: string[] = [];
  if (s.paused) alerts.push(`PAUSED (${s.paused})`);
  if (s.downstream === 'unreachable') alerts.push('downstream unreachable');
  else if (s.downstream === 'overloaded') alerts.push('downstream overloaded');
  else if (s.downstream === 'refusing') alerts.push('downstream REFUSES everything (sending 1/s)');
  const parts = [
    ...alerts,
    `received ${num(s.received)}${s.refused > 0 ? ` (+${num(s.refused)} refused)` : ''}`,
    `queued ${num(s.queued)}`,
    `in flight ${num(s.inFlight)}`,
    `delivered ${num(s.delivered)} (${s.deliveredPerSecond.toFixed(1)}/s)`,
    s.ratePerSecond === undefined
      ? 'pacing -'
      : `pacing ${s.ratePerSecond.toFixed(1)}/s window ${s.window ?? '-'}${s.paceSetBy && !s.paused ? ` (${s.paceSetBy})` : ''}`,
    `DLQ ${num(s.deadLetters)}`,
  ];
  return parts.join(' │ ');
}

/** Where status lines go. */
export interface StatusOutput {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/**
 * Shows status lines. On a terminal one line is redrawn in place (cut to the terminal's width) and `log`
 * prints above it; elsewhere each `show` prints a plain line, at most every `plainEveryMs` unless it changed.
 */
export class StatusPrinter {
  private drawn = false;
  private lastPlain = '';
  private lastPlainAt = 0;

  constructor(
    private readonly out: StatusOutput,
    private readonly plainEveryMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  show(line: string): void {
    if (this.out.isTTY) {
      // A terminal that reports no width (0: `script`, some CI ptys) is taken as the common 120.
      const width = Math.max(20, (this.out.columns || 120) - 1);
      const cut = line.length > width ? `${line.slice(0, width - 1)}…` : line;
      this.out.write(`\r\x1b[2K${cut}`);
      this.drawn = true;
      return;
    }
    const t = this.now();
    if (line === this.lastPlain && t - this.lastPlainAt < this.plainEveryMs * 6) return;
    if (line !== this.lastPlain && t - this.lastPlainAt < this.plainEveryMs && this.lastPlain !== '') return;
    this.out.write(`[status] ${line}\n`);
    this.lastPlain = line;
    this.lastPlainAt = t;
  }

  /** Prints a message line without breaking the redrawn status line. */
  log(message: string): void {
    if (this.out.isTTY && this.drawn) this.out.write('\r\x1b[2K');
    this.out.write(`${message}\n`);
    this.drawn = false;
  }

  /** Ends the redrawn line so later output starts on a fresh line. */
  done(): void {
    if (this.out.isTTY && this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
