/** `npm run send`: posts correctly signed Shopify-style webhooks to local mode (or any Sluice URL) in bulk. */
import { readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError } from 'commander';
import { LOCAL_STATE_FILE } from '../core/resources';
import { TOPIC } from '../core/screening';
import { parseSecrets } from '../core/signature';
import { sendWebhooks } from '../local/sender';
import { DEV_SECRET, makeFlood } from '../local/webhooks';

const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number ≥ 1`);
  return n;
};

// The running `npm start` writes its API URL here, so a non-default PORT needs no --url.
// The shapes the edge accepts (core/screening.ts): anything else would be refused with 403, every one.
const topic = (value: string): string => {
  if (!TOPIC.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not a topic like products/update or orders/create`);
  }
  return value;
};

function defaultUrl(): string {
  try {
    const file = process.env.SLUICE_LOCAL_FILE || LOCAL_STATE_FILE;
    const state: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (
      typeof state === 'object' &&
      state !== null &&
      'apiUrl' in state &&
      typeof state.apiUrl === 'string'
    ) {
      return `${state.apiUrl}/webhooks`;
    }
  } catch {
    // No local mode running from this folder: use the default port.
  }
  return 'http://127.0.0.1:3000/webhooks';
}

const program = new Command('send')
  .description('Post signed Shopify-style webhooks to Sluice (local mode by default).')
  .option('-n, --count <n>', 'webhooks to send', positiveInt('--count'), 100)
  .option('-s, --shops <n>', 'shops to spread them over (each shop in order)', positiveInt('--shops'), 3)
  .option('-t, --topic <topic>', 'webhook topic', topic, 'products/update')
  .option(
    '-r, --resources <n>',
    'products (or orders) per shop the webhooks update in turn (default: each its own)',
    positiveInt('--resources'),
  )
  .option(
    '-u, --url <url>',
    'webhook URL (default: the running local mode, else http://127.0.0.1:3000/webhooks)',
  )
  .option(
    '--secret <secret>',
    'client secret to sign with (default: SHOPIFY_CLIENT_SECRET, else the dev secret)',
  )
  .option('-c, --concurrency <n>', 'requests in flight at once', positiveInt('--concurrency'), 16)
  .option('--verified', 'use the verified route (/verified/…), which answers 401 to bad signatures', false)
  .option('--unordered', 'ignore per-shop order (lets concurrency exceed the number of shops)', false)
  .parse();

interface Options {
  count: number;
  shops: number;
  topic: string;
  resources?: number;
  url?: string;
  secret?: string;
  concurrency: number;
  verified: boolean;
  unordered: boolean;
}

async function main(): Promise<number> {
  const o = program.opts<Options>();
  let url: URL;
  try {
    url = new URL(o.url ?? defaultUrl());
  } catch {
    console.error(`send: --url ${o.url} is not a URL (example: http://127.0.0.1:3000/webhooks)`);
    return 2;
  }
  let path = `${url.pathname}${url.search}`;
  if (o.verified && !path.startsWith('/verified/')) path = `/verified${path === '/' ? '/webhooks' : path}`;
  const secret = o.secret ?? parseSecrets(process.env.SHOPIFY_CLIENT_SECRET)[0] ?? DEV_SECRET;
  const webhooks = makeFlood({
    count: o.count,
    shops: o.shops,
    topic: o.topic,
    secret,
    path,
    ...(o.resources ? { resources: o.resources } : {}),
  });
  const lanes = o.unordered ? o.concurrency : Math.min(o.concurrency, o.shops);
  console.log(
    `Sending ${o.count} ${o.topic} webhooks for ${o.shops} shop(s) to ${url.origin}${path}` +
      ` (${lanes} in flight${o.unordered ? '' : ', each shop in order'}, secret ${secret === DEV_SECRET ? 'dev' : 'given'})`,
  );
  const bar = new SingleBar({
    format: 'sending [{bar}] {value}/{total} │ {rate} req/s │ accepted {accepted} │ refused {refused}',
    hideCursor: true,
    etaBuffer: 200,
  });
  let accepted = 0;
  let refused = 0;
  const started = Date.now();
  bar.start(o.count, 0, { rate: '0', accepted: 0, refused: 0 });
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort());
  const summary = await sendWebhooks(webhooks, {
    baseUrl: url.origin,
    concurrency: o.concurrency,
    ordered: !o.unordered,
    signal: interrupt.signal,
    onResult: (_w, status) => {
      if (status >= 200 && status < 300) accepted++;
      else refused++;
      const secs = (Date.now() - started) / 1000;
      bar.increment(1, {
        rate: secs > 0 ? ((accepted + refused) / secs).toFixed(0) : '0',
        accepted,
        refused,
      });
    },
  });
  bar.stop();
  const byStatus = Object.entries(summary.rejected)
    .map(([s, n]) => `${s === '0' ? 'no connection' : s}: ${n}`)
    .join(', ');
  console.log(
    `sent ${summary.sent}, accepted ${summary.accepted}, rejected ${summary.sent - summary.accepted}` +
      `${byStatus ? ` (${byStatus})` : ''}, ${summary.perSecond.toFixed(0)} req/s over ${(summary.elapsedMs / 1000).toFixed(1)} s`,
  );
  if (summary.error) {
    console.error(`send: cannot reach ${url.origin} (${summary.error}). Is \`npm start\` running?`);
  }
  return summary.accepted === o.count ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`send: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
