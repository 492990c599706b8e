// `sluice cost` / `npm run cost`: cost per million webhooks and fixed monthly cost, itemised, with alternatives.
import type { Command } from 'commander';
import { DEFAULTS, DOWNSTREAM_TIMEOUT_MS, MAX_IDLE_EXIT_SECONDS } from '../core/config';
import { type CostAssumptions, type CostReport, estimateCost } from '../core/cost';
import { PRICES } from '../core/prices';
import { MAX_WIND_DOWN_MS } from '../core/schedule';
import { type CliIo, emit, type GlobalOptions, numberIn, table, UsageError } from './io';

const usd = (x: number): string => (x === 0 ? '$0' : x < 0.01 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

/** The report as a person reads it. */
export function costText(r: CostReport): string {
  const a = r.assumptions;
  const rows = r.lines.map((l) => [
    l.service,
    l.item,
    l.perMillionUsd === 0 ? '' : usd(l.perMillionUsd),
    l.monthlyFixedUsd === 0 ? '' : usd(l.monthlyFixedUsd),
  ]);
  rows.push(['TOTAL', '', usd(r.perMillionUsd), usd(r.monthlyFixedUsd)]);
  const alt = r.alternatives.map((x) => [x.name, usd(x.perMillionUsd), x.tradeOff]);
  return [
    `Sluice cost estimate (${r.region}, prices as of ${r.pricesAsOf})`,
    '',
    table(['SERVICE', 'ITEM', 'PER MILLION', 'PER MONTH'], rows),
    '',
    `At ${a.webhooksPerMonth.toLocaleString('en-US')} webhooks/month: ${usd(r.monthlyTotalUsd)}/month, ${usd(r.allInPerMillionUsd)} per million all-in.`,
    '',
    'Assumptions:',
    ...r.notes.map((n) => `  - ${n}`),
    '',
    'AWS alternatives, per million webhooks (same price table):',
    table(['ALTERNATIVE', 'PER MILLION', 'TRADE-OFF'], alt),
    '',
    `Sluice: ${usd(r.perMillionUsd)} per million + ${usd(r.monthlyFixedUsd)}/month (fixed, and the drainer time ${a.webhooksPerMonth.toLocaleString('en-US')} webhooks/month spread evenly keep awake).`,
  ].join('\n');
}

/** Registers `cost`. */
export function registerCost(program: Command, io: CliIo): void {
  program
    .command('cost')
    .description(
      'estimate the cost per million webhooks and the fixed monthly cost of the stack, per service',
    )
    .option(
      '--webhooks-per-month <n>',
      'volume the fixed costs are spread over',
      numberIn(1, 1e12),
      1_000_000,
    )
    .option('--avg-body-kb <k>', 'average webhook body size, KB', numberIn(0.01, 1024), 8)
    .option('--verified-share <s>', 'share (0–1) sent to the verified route', numberIn(0, 1), 0)
    .option(
      '--claim-check-share <s>',
      'share (0–1) with bodies stored in S3 (verified route only)',
      numberIn(0, 1),
      0,
    )
    .option(
      '--delivery-rate <r>',
      'average delivery rate while draining, webhooks/s',
      numberIn(0.01, 100_000),
      20,
    )
    .option(
      '--drainer-idle-hours <h>',
      'hours/month the drainer polls with nothing to deliver (730 = always)',
      numberIn(0, 730),
      730,
    )
    .option(
      '--idle-exit-seconds <n>',
      "the drainer's idle exit (config idleExitSeconds): an idle run lasts n s + start-up, not the minute (0 = none)",
      numberIn(0, MAX_IDLE_EXIT_SECONDS, true),
      0,
    )
    .option(
      '--downstream-timeout-ms <n>',
      `the app's timeout (config downstreamTimeoutMs): without an idle exit, a run stops taking work n ms + 2 s (at most ${MAX_WIND_DOWN_MS / 1000} s) before its end`,
      numberIn(DOWNSTREAM_TIMEOUT_MS.min, DOWNSTREAM_TIMEOUT_MS.max, true),
      DEFAULTS.downstreamTimeoutMs,
    )
    .option('--drainer-memory-mb <mb>', 'drainer memory', numberIn(128, 10_240, true), 512)
    .option(
      '--receive-batch <n>',
      'messages per receive call (1 for a trickle; up to 10 while a backlog drains)',
      numberIn(1, 10, true),
      1,
    )
    .option('--log-bytes <b>', 'log bytes per webhook (access log, Lambda lines, EMF)', numberIn(0, 1e6), 650)
    .option(
      '--egress-per-gb <usd>',
      'USD per GB sent to your app: 0.09 to the internet, about 0.01 to a public address in the same AWS region',
      numberIn(0, 1),
      0.09,
    )
    .option('--x86', 'price the functions on x86_64 instead of arm64')
    .option('--prices', 'print the price table with sources and exit')
    .action(
      (
        opts: {
          webhooksPerMonth: number;
          avgBodyKb: number;
          verifiedShare: number;
          claimCheckShare: number;
          deliveryRate: number;
          drainerIdleHours: number;
          idleExitSeconds: number;
          downstreamTimeoutMs: number;
          drainerMemoryMb: number;
          receiveBatch: number;
          logBytes: number;
          egressPerGb: number;
          x86?: boolean;
          prices?: boolean;
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        if (opts.prices) {
          emit(io, g, PRICES, (p) =>
            table(
              ['PRICE', 'USD', 'UNIT', 'SOURCE'],
              // Plain decimals: 2e-7 read as 2.0000000000000002e-7 from the multiplication that made it.
              Object.entries(p).map(([k, v]) => [
                k,
                v.usd.toLocaleString('en-US', { maximumSignificantDigits: 6, useGrouping: false }),
                v.unit,
                v.source,
              ]),
            ),
          );
          return;
        }
        if (opts.claimCheckShare > opts.verifiedShare) {
          throw new UsageError(
            `--claim-check-share ${opts.claimCheckShare} exceeds --verified-share ${opts.verifiedShare}: only the verified route stores bodies in S3`,
          );
        }
        const overrides: Partial<CostAssumptions> = {
          webhooksPerMonth: opts.webhooksPerMonth,
          avgBodyKb: opts.avgBodyKb,
          verifiedShare: opts.verifiedShare,
          claimCheckShare: opts.claimCheckShare,
          deliveryRatePerSecond: opts.deliveryRate,
          drainerIdleHours: opts.drainerIdleHours,
          idleExitSeconds: opts.idleExitSeconds,
          downstreamTimeoutMs: opts.downstreamTimeoutMs,
          drainerMemoryMb: opts.drainerMemoryMb,
          receiveBatch: opts.receiveBatch,
          logBytesPerWebhook: opts.logBytes,
          egressPerGbUsd: opts.egressPerGb,
          architecture: opts.x86 ? 'x86_64' : 'arm64',
        };
        emit(io, g, estimateCost(overrides), costText);
      },
    );
}
