/** `npm start`: Sluice's whole pipeline on this machine (local mode), configured by flags or environment. */
import { Command, Option } from 'commander';
import { ConfigError, configFromEnv, FIELDS } from '../core/config';
import { LOCAL_STATE_FILE } from '../core/resources';
import { parseSecrets } from '../core/signature';
import { PortInUseError } from '../local/api';
import { EndpointsFileInUseError, type LocalMode, StateDirInUseError, startLocalMode } from '../local/mode';
import { SnapshotError } from '../local/snapshot';
import { DEV_SECRET } from '../local/webhooks';

// The configuration fields that matter locally, with their flag help. Flags win over the environment.
const CONFIG_FLAGS: Readonly<Record<string, string>> = {
  DOWNSTREAM_URL: 'base URL of your app (default: the built-in demo app)',
  ORDERING_KEY: 'ordering group: resource, shop, shop-topic, global or none (default resource)',
  ALLOWED_SHOPS: 'comma-separated shop domains allowed at the edge (default any)',
  ALLOWED_TOPICS: 'comma-separated topics allowed at the edge (default any)',
  RATE_FLOOR: 'lowest delivery rate, req/s (default 1)',
  RATE_CEILING: 'highest delivery rate, req/s (default 200)',
  MAX_IN_FLIGHT: 'most requests in flight to the app (default 32)',
  MAX_ATTEMPTS: 'attempts before a failing webhook goes to the DLQ (default 100)',
  MAX_RETRY_MINUTES: 'minutes a webhook may keep failing before the DLQ (default 1440)',
  DOWNSTREAM_TIMEOUT_MS: 'time the app has to answer, ms (default 10000)',
  SERVICE_TIME_METRIC: "your app's Server-Timing metric of its processing time, e.g. app (default none)",
  VERIFY_ALL_ROUTES: 'true: every route goes through the verify function (default false)',
};
// The AWS SDK's Node 20 end-of-support notice would top every start; the README states the Node plan.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const flagOf = (env: string) => env.toLowerCase().replace(/_/g, '-');

const program = new Command('start').description(
  'Run Sluice locally: API on 127.0.0.1, embedded SQS and DynamoDB, the real drainer, and a demo app.',
);
program.addOption(new Option('-p, --port <n>', 'API port (0 picks a free one)').env('PORT').default('3000'));
program.addOption(
  new Option('--secret <s>', 'Shopify client secret; "new,old" during a rotation').env(
    'SHOPIFY_CLIENT_SECRET',
  ),
);
program.addOption(
  new Option('--state <dir>', 'keep state on disk here (DynamoDB files, queue snapshots)').env(
    'SLUICE_STATE_DIR',
  ),
);
program.addOption(new Option('--demo-rate <n>', 'demo app capacity, req/s').env('DEMO_RATE').default('50'));
program.addOption(
  new Option('--demo-concurrency <n>', 'demo app requests at once').env('DEMO_CONCURRENCY').default('4'),
);
// Not `.env()`: commander turns a boolean flag on whenever its variable exists, SLUICE_VERBOSE=0 included.
program.addOption(new Option('--verbose', 'print the drainer’s info lines [env SLUICE_VERBOSE=1]'));
for (const field of FIELDS) {
  const help = CONFIG_FLAGS[field.env];
  if (help) program.addOption(new Option(`--${flagOf(field.env)} <value>`, `${help} [env ${field.env}]`));
}
program.parse();

const number = (
  name: string,
  raw: string,
  min: number,
  integer = false,
  max = Number.POSITIVE_INFINITY,
): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const range = max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(name, raw, `allowed: ${integer ? 'an integer' : 'a number'} ${range}`);
  }
  return n;
};

/** Environment variables set from a command-line flag, so an error about one can name the flag. */
const fromFlags = new Set<string>();

async function main(): Promise<LocalMode> {
  const o = program.opts<Record<string, string | boolean | undefined>>();
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(CONFIG_FLAGS)) {
    const v = o[flagOf(name).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (typeof v === 'string') {
      env[name] = v;
      fromFlags.add(name);
    }
  }
  const demo = !env.DOWNSTREAM_URL;
  // Without an app, a placeholder satisfies the required field; the demo app's URL replaces it.
  const config = configFromEnv(env, demo ? { downstreamUrl: 'http://127.0.0.1' } : {});
  const given = typeof o.secret === 'string' ? parseSecrets(o.secret) : [];
  const secrets = given.length > 0 ? given : [DEV_SECRET];
  return startLocalMode({
    config,
    secrets,
    devSecret: DEV_SECRET,
    port: number('port', String(o.port), 0, true, 65_535),
    ...(demo
      ? {
          demo: {
            ratePerSecond: number('demoRate', String(o.demoRate), 0.1),
            concurrency: number('demoConcurrency', String(o.demoConcurrency), 1, true),
          },
        }
      : {}),
    ...(typeof o.state === 'string' && o.state !== '' ? { stateDir: o.state } : {}),
    endpointsFile: process.env.SLUICE_LOCAL_FILE || LOCAL_STATE_FILE,
    // Shorter runs exercise the restart path (tests); a Lambda run lasts up to 15 minutes.
    ...(process.env.SLUICE_RUN_SECONDS
      ? { runMs: number('runSeconds', process.env.SLUICE_RUN_SECONDS, 5) * 1000 }
      : {}),
    verbose: o.verbose === true || /^(1|true|yes|on)$/i.test(process.env.SLUICE_VERBOSE ?? ''),
  });
}

main().then(
  (mode) => {
    let firstAt = 0;
    const onSignal = (name: string) => {
      // One Ctrl-C can arrive more than once (the terminal signals the whole process group, and a parent
      // may forward it too): only a second press, a moment later, forces. Anything else during a stop (npm
      // exiting after it forwarded a SIGTERM, the terminal closing) lets the stop finish and save.
      if (firstAt > 0 && (name !== 'SIGINT' || Date.now() - firstAt < 250)) return;
      if (firstAt > 0) {
        console.error(`\n${name} again: exiting now, without a final save.`);
        process.exit(130);
      }
      firstAt = Date.now();
      mode.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`sluice: ${err instanceof Error ? err.message : String(err)}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    // Closing the terminal: a stop like Ctrl-C (the queue is saved), not the default hard exit. Its output is
    // gone by then (EIO, or EPIPE when piped into `head`): writes that fail are dropped, not a crash mid-save.
    process.on('SIGHUP', () => onSignal('SIGHUP'));
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    // `npm start` runs this under `sh -c`: a SIGTERM to npm (a process manager, an IDE's stop button) ends npm
    // and the shell but never reaches this process, which would keep serving, orphaned. A parent that goes
    // away is a stop as well.
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      onSignal('parent exited');
    }, 1_000);
    watch.unref();
  },
  (err: unknown) => {
    if (
      err instanceof ConfigError ||
      err instanceof PortInUseError ||
      err instanceof StateDirInUseError ||
      err instanceof EndpointsFileInUseError
    ) {
      const flag =
        err instanceof ConfigError ? [...fromFlags].find((e) => err.field.startsWith(`${e} `)) : undefined;
      console.error(`sluice: ${err.message}${flag ? ` (given as --${flagOf(flag)})` : ''}`);
      process.exit(err instanceof ConfigError ? 2 : 1);
    }
    if (err instanceof SnapshotError) {
      console.error(
        `sluice: ${err.message}. It holds the queue saved at the last stop: fix it, or move it aside to start with an empty queue.`,
      );
      process.exit(1);
    }
    // A file system error (a state folder that is a file, say) says enough with its message and path.
    const code = (err as { code?: unknown } | undefined)?.code;
    const brief = err instanceof Error && typeof code === 'string';
    console.error(
      `sluice: could not start local mode: ${brief ? err.message : err instanceof Error ? err.stack : String(err)}`,
    );
    process.exit(1);
  },
);
