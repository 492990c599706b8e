/** Runs `npm start` as a child process, as a user would, and reads the endpoints it writes. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { FIELDS } from '../../core/config';
import type { LocalEndpoints } from '../../core/resources';
import { LOCAL_CREDENTIALS } from '../../local/emulators';
import { waitUntil } from './recorder';

const ROOT = join(__dirname, '..', '..');

/** The test's environment without any Sluice setting a developer may have exported. */
export function cleanEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const f of FIELDS) delete env[f.env];
  for (const name of LOCAL_ENV) delete env[name];
  return env;
}

const LOCAL_ENV = [
  'PORT',
  'SHOPIFY_CLIENT_SECRET',
  'SLUICE_STATE_DIR',
  'SLUICE_LOCAL_FILE',
  'SLUICE_RUN_SECONDS',
  'SLUICE_VERBOSE',
  'DEMO_RATE',
  'DEMO_CONCURRENCY',
];

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface LocalChild {
  readonly endpoints: LocalEndpoints;
  /** An SQS client on the child's emulator (dummy credentials). */
  readonly sqs: SQSClient;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /**
   * Sends `signal` to the whole process group, like Ctrl-C in a terminal, and waits until the local-mode
   * process itself is gone (npm exits on the signal at once; local mode finishes its graceful stop after).
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  /** Sends `signal` to npm alone, as a process manager that stops `npm start` does. */
  signalNpm(signal: NodeJS.Signals): void;
  readonly exited: boolean;
}

/** Starts `npm start` with `env` (PORT=0 unless given) and waits for its endpoints file. */
export async function startLocalChild(
  env: Readonly<Record<string, string>>,
  endpointsFile: string,
): Promise<LocalChild> {
  let out = '';
  let exitCode: number | null | undefined;
  const child: ChildProcess = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    env: { ...cleanEnv(), PORT: '0', SLUICE_LOCAL_FILE: endpointsFile, ...env },
    // Its own process group, so one signal reaches npm, tsx and node together, as a terminal's Ctrl-C does.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      exitCode = code;
      resolve(code);
    });
  });
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  let endpoints: LocalEndpoints | undefined;
  try {
    await waitUntil(
      async () => {
        if (exitCode !== undefined) throw new Error(`npm start exited with ${exitCode}:\n${out}`);
        try {
          const parsed = JSON.parse(await readFile(endpointsFile, 'utf8')) as LocalEndpoints;
          if (out.includes(parsed.apiUrl)) endpoints = parsed;
        } catch {
          // Not written yet.
        }
        return endpoints !== undefined;
      },
      45_000,
      `npm start to write ${endpointsFile}`,
    );
  } catch (err) {
    if (child.pid && exitCode === undefined) process.kill(-child.pid, 'SIGKILL');
    throw err;
  }
  const ready = endpoints!;
  return {
    endpoints: ready,
    sqs: new SQSClient({ region: ready.region, endpoint: ready.sqsEndpoint, credentials: LOCAL_CREDENTIALS }),
    output: () => out,
    get exited() {
      return exitCode !== undefined;
    },
    signalNpm(signal) {
      if (child.pid) process.kill(child.pid, signal);
    },
    async stop(signal = 'SIGINT', timeoutMs = 30_000) {
      if (child.pid && alive(ready.pid)) process.kill(-child.pid, signal);
      try {
        await waitUntil(
          () => !alive(ready.pid),
          timeoutMs,
          `local mode (pid ${ready.pid}) to exit after ${signal}`,
        );
      } catch (err) {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
        throw new Error(`${err instanceof Error ? err.message : String(err)}\n${out}`);
      }
      await exited;
    },
  };
}
