// The CLI's terminal, errors and formatting helpers, injected so commands run the same in tests and in a shell.
import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError } from 'commander';

/** Where a command writes and asks. `process` in a shell; captured buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdin is a terminal a person can answer from. */
  readonly interactive: boolean;
  /** Asks a yes/no question on the terminal. */
  confirm(question: string): Promise<boolean>;
  readonly env: Readonly<Record<string, string | undefined>>;
  now(): number;
}

/** The real terminal. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    interactive: process.stdin.isTTY === true,
    async confirm(question) {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${question} [y/N] `);
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
    env: process.env,
    now: () => Date.now(),
  };
}

/** Bad arguments or a target that cannot be found: the user must change the command (exit code 2). */
export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command ran but could not complete (exit code 1); `code` is stable for scripts reading `--json`. */
export class OperationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OperationError';
  }
}

/** Options every command accepts (commander merges them from the program). */
export interface GlobalOptions {
  readonly stack?: string;
  readonly local?: boolean;
  readonly stateFile?: string;
  readonly region?: string;
  readonly json?: boolean;
}

/** Commander argument parser for a number in a range. */
export function numberIn(min: number, max: number, integer = false): (raw: string) => number {
  return (raw) => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
      throw new InvalidArgumentError(
        `expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}.`,
      );
    }
    return n;
  };
}

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A point in time: an ISO date (`2026-11-25T10:00Z`), epoch ms, or an age before now (`30m`, `2h`, `7d`).
 * Returns epoch ms; undefined when the text is none of these.
 */
export function parseTime(raw: string, now: number): number | undefined {
  const age = /^(\d+(?:\.\d+)?)([smhd])$/.exec(raw.trim());
  if (age) return now - Number(age[1]) * UNITS[age[2]!]!;
  if (/^\d{10,}$/.test(raw.trim())) return Number(raw);
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : t;
}

export { formatAge } from '../core/format';

/** Left-aligned text table with a header row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Prints a result as JSON (for scripts) or through `human` (for people). */
export function emit<T>(io: CliIo, options: GlobalOptions, value: T, human: (value: T) => string): void {
  io.out(options.json ? JSON.stringify(value, null, 2) : human(value));
}
