// `sluice pause|resume|rate`: operator controls in the drainer's state item; intake is never affected.
import type { Command } from 'commander';
import { ControlsError, setControls } from '../adapters/dynamo-state';
import type { OperatorControls } from '../core/ports';
import { type CliIo, emit, type GlobalOptions, numberIn, UsageError } from './io';
import { resolveTarget } from './target';

function controlsText(c: OperatorControls, label: string): string {
  const bounds = [
    c.floorPerSecond !== undefined ? `floor ${c.floorPerSecond}/s` : 'floor from config',
    c.ceilingPerSecond !== undefined ? `ceiling ${c.ceilingPerSecond}/s` : 'ceiling from config',
  ];
  return `${label}: delivery ${c.paused ? 'PAUSED (webhooks are still accepted and queued)' : 'running'}; ${bounds.join(', ')}.`;
}

async function apply(io: CliIo, cmd: Command, patch: Partial<OperatorControls>): Promise<void> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const t = await resolveTarget(g, io.env);
  let controls: OperatorControls;
  try {
    controls = await setControls(t.dynamo, t.tableName, patch, io.now());
  } catch (err) {
    // A limit the drainer would refuse is a mistake in the arguments: exit 2, nothing written.
    if (err instanceof ControlsError) throw new UsageError(err.message);
    throw err;
  }
  emit(io, g, { target: t.label, controls }, (v) => controlsText(v.controls, t.label));
}

/** Registers `pause`, `resume` and `rate`. */
export function registerControls(program: Command, io: CliIo): void {
  program
    .command('pause')
    .description('hold delivery: webhooks keep being accepted and queued, nothing is sent to the app')
    .action((_opts: unknown, cmd: Command) => apply(io, cmd, { paused: true }));

  program
    .command('resume')
    .description('resume delivery: the queue drains at the paced rate')
    .action((_opts: unknown, cmd: Command) => apply(io, cmd, { paused: false }));

  program
    .command('rate')
    .description('set the operator floor and/or ceiling of the delivery rate (requests/s), or --clear them')
    .option('--floor <n>', 'lowest rate the pacer may choose, requests/s', numberIn(0.1, 10_000))
    .option('--ceiling <n>', 'highest rate the pacer may choose, requests/s', numberIn(0.1, 10_000))
    .option('--clear', 'remove both; the configured floor and ceiling apply again')
    .action((opts: { floor?: number; ceiling?: number; clear?: boolean }, cmd: Command) => {
      if (opts.clear && (opts.floor !== undefined || opts.ceiling !== undefined)) {
        throw new UsageError('give --clear alone, or --floor and/or --ceiling');
      }
      if (!opts.clear && opts.floor === undefined && opts.ceiling === undefined) {
        throw new UsageError('give --floor <n> and/or --ceiling <n>, or --clear');
      }
      if (opts.floor !== undefined && opts.ceiling !== undefined && opts.floor > opts.ceiling) {
        throw new UsageError(`--floor ${opts.floor} is above --ceiling ${opts.ceiling}`);
      }
      const patch: Partial<OperatorControls> = opts.clear
        ? { floorPerSecond: undefined, ceilingPerSecond: undefined }
        : {
            ...(opts.floor !== undefined ? { floorPerSecond: opts.floor } : {}),
            ...(opts.ceiling !== undefined ? { ceilingPerSecond: opts.ceiling } : {}),
          };
      return apply(io, cmd, patch);
    });
}
