import { formatStatus, StatusPrinter, type StatusSample } from '../../local/status';

const sample = (over: Partial<StatusSample> = {}): StatusSample => ({
  received: 2000,
  refused: 0,
  queued: 1488,
  inFlight: 3,
  delivered: 410,
  deliveredPerSecond: 48.25,
  ratePerSecond: 62.34,
  window: 4,
  deadLetters: 0,
  downstream: 'ok',
  ...over,
});

describe('formatStatus', () => {
  it('shows received, queued, in flight, delivered/s, pacing and DLQ on one line', () => {
    expect(formatStatus(sample())).toBe(
      'received 2,000 │ queued 1,488 │ in flight 3 │ delivered 410 (48.3/s) │ pacing 62.3/s window 4 │ DLQ 0',
    );
  });

  it('says what sets the pace after the window when the drainer tells', () => {
    expect(formatStatus(sample({ paceSetBy: 'learned limit' }))).toContain(
      '│ pacing 62.3/s window 4 (learned limit) │',
    );
    // A pause says why itself.
    expect(formatStatus(sample({ paceSetBy: 'Retry-After', paused: 'Retry-After 0.9s' }))).toContain(
      '│ pacing 62.3/s window 4 │',
    );
  });

  it('adds refused requests, a pause and an unreachable app when there are any', () => {
    const line = formatStatus(sample({ refused: 3, paused: 'operator', downstream: 'unreachable' }));

    expect(line).toContain('received 2,000 (+3 refused)');
    expect(line).toContain('PAUSED (operator)');
    // Alerts first: a narrow terminal cuts the end of the line.
    expect(line).toMatch(/^PAUSED \(operator\) │ downstream unreachable │ received/);
  });

  it('says so when the app refuses everything and the drainer sends one a second', () => {
    expect(formatStatus(sample({ downstream: 'refusing' }))).toMatch(
      /^downstream REFUSES everything \(sending 1\/s\) │ received/,
    );
  });
});

describe('StatusPrinter', () => {
  const sink = (isTTY: boolean) => {
    const writes: string[] = [];
    return { writes, out: { isTTY, columns: 40, write: (t: string) => writes.push(t) } };
  };

  it('redraws one line in place on a terminal, cut to its width', () => {
    const { writes, out } = sink(true);
    const printer = new StatusPrinter(out);

    printer.show('x'.repeat(100));
    printer.log('hello');

    expect(writes[0]).toBe(`\r\x1b[2K${'x'.repeat(38)}…`);
    expect(writes.slice(1)).toEqual(['\r\x1b[2K', 'hello\n']);
  });

  it('takes a terminal that reports no width as 120 columns, not 20', () => {
    const writes: string[] = [];
    const printer = new StatusPrinter({ isTTY: true, columns: 0, write: (t: string) => writes.push(t) });

    printer.show('x'.repeat(100));

    expect(writes[0]).toBe(`\r\x1b[2K${'x'.repeat(100)}`);
  });

  it('prints plain lines elsewhere, at most one per interval unless it repeats a heartbeat', () => {
    const { writes, out } = sink(false);
    let now = 0;
    const printer = new StatusPrinter(out, 5_000, () => now);

    printer.show('a');
    now = 1_000;
    printer.show('b');
    now = 6_000;
    printer.show('b');
    now = 7_000;
    printer.show('b');

    expect(writes).toEqual(['[status] a\n', '[status] b\n']);
  });
});
