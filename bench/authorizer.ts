/** `npm run bench:authorizer`: the edge authorizer's bundle size, module load time and per-request time. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { OPEN_RULES } from '../core/screening';
import { makeAuthorizer } from '../lambda/authorizer';
import { projectRoot } from '../lib/function';
import { authorizerEvent, shopifyHeaders } from '../test/helpers/webhooks';

const ROOT = projectRoot();
const OUT = path.join(ROOT, 'bench/out');
const TARGET_BYTES = 20 * 1024;
const TARGET_MS = 0.1;
const WARMUP = 20_000;
const RUNS = 200_000;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function bundle(): Promise<{ bytes: number; gzip: number; file: string }> {
  // The same esbuild options NodejsFunction uses for the deployed function (lib/function.ts).
  const result = await build({
    entryPoints: [path.join(ROOT, 'lambda/authorizer.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    external: ['@aws-sdk/*'],
    write: false,
  });
  const code = result.outputFiles[0]!.contents;
  const file = path.join(OUT, 'authorizer.js');
  writeFileSync(file, code);
  return { bytes: code.length, gzip: gzipSync(code).length, file };
}

/** Milliseconds to `require` the bundle in a fresh Node process (the module part of a cold start). */
function loadMs(file: string): number {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const out = execFileSync(process.execPath, [
      '-e',
      `const t=process.hrtime.bigint();require(${JSON.stringify(file)});console.log(Number(process.hrtime.bigint()-t)/1e6)`,
    ]);
    samples.push(Number(out.toString().trim()));
  }
  return samples.sort((a, b) => a - b)[2]!;
}

async function perRequest(): Promise<{ allow: number[]; deny: number[] }> {
  const authorize = makeAuthorizer(OPEN_RULES, { log: () => {} });
  // Distinct webhook ids, as in real traffic; events built up front so only the handler is timed.
  const allowEvents = Array.from({ length: 1000 }, (_, i) =>
    authorizerEvent(
      shopifyHeaders(undefined, {
        'x-shopify-webhook-id': `b54557e4-bdd9-4b37-8a5f-${String(i).padStart(12, '0')}`,
      }),
    ),
  );
  const denyEvent = authorizerEvent(
    shopifyHeaders(undefined, { 'x-shopify-shop-domain': 'evil.example.com' }),
  );
  for (let i = 0; i < WARMUP; i++) await authorize(allowEvents[i % allowEvents.length]!);
  const time = async (events: readonly Parameters<typeof authorize>[0][]): Promise<number[]> => {
    const samples = new Array<number>(RUNS);
    for (let i = 0; i < RUNS; i++) {
      const t = process.hrtime.bigint();
      await authorize(events[i % events.length]!);
      samples[i] = Number(process.hrtime.bigint() - t) / 1e6;
    }
    return samples.sort((a, b) => a - b);
  };
  return { allow: await time(allowEvents), deny: await time([denyEvent]) };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const b = await bundle();
  const load = loadMs(b.file);
  const { allow, deny } = await perRequest();
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const rows: Array<[string, string, string, string]> = [
    [
      'bundle, minified',
      `${(b.bytes / 1024).toFixed(1)} KB`,
      `< ${TARGET_BYTES / 1024} KB`,
      b.bytes < TARGET_BYTES ? 'ok' : 'OVER',
    ],
    ['bundle, gzip', `${(b.gzip / 1024).toFixed(1)} KB`, '', ''],
    ['module load (fresh node, median of 5)', `${load.toFixed(2)} ms`, '', ''],
    ...(['allow', 'deny'] as const).flatMap((kind): Array<[string, string, string, string]> => {
      const s = kind === 'allow' ? allow : deny;
      return [
        [
          `${kind}: mean per request`,
          `${(mean(s) * 1000).toFixed(1)} µs`,
          `< ${TARGET_MS * 1000} µs`,
          mean(s) < TARGET_MS ? 'ok' : 'OVER',
        ],
        [
          `${kind}: p50 / p99 / p99.9`,
          `${[50, 99, 99.9].map((p) => `${(percentile(s, p) * 1000).toFixed(1)}`).join(' / ')} µs`,
          '',
          '',
        ],
      ];
    }),
  ];
  const widths = [0, 1, 2, 3].map((c) =>
    Math.max(...rows.map((r) => r[c]!.length), ['measure', 'value', 'target', ''][c]!.length),
  );
  const line = (r: readonly string[]) => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(
    `Authorizer (${RUNS.toLocaleString('en')} requests per case after ${WARMUP.toLocaleString('en')} warm-up, Node ${process.version}, ${process.arch})`,
  );
  console.log(line(['measure', 'value', 'target', '']));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  writeFileSync(
    path.join(OUT, 'authorizer.json'),
    JSON.stringify(
      {
        bundleBytes: b.bytes,
        gzipBytes: b.gzip,
        loadMs: load,
        allowMeanMs: mean(allow),
        denyMeanMs: mean(deny),
        runs: RUNS,
      },
      null,
      2,
    ),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
