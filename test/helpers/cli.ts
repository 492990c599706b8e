/** Runs the operations CLI in-process with a captured terminal, and writes local-mode state files. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from '../../cli/io';
import { runCli } from '../../cli/program';
import type { LocalEndpoints } from '../../core/resources';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestIoOptions {
  readonly interactive?: boolean;
  /** Answer to every confirmation question. @default false */
  readonly confirm?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly now?: () => number;
}

/** Runs `sluice <argv>` and returns its exit code and output. */
export async function sluice(argv: readonly string[], options: TestIoOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (t) => {
      stdout += t.endsWith('\n') ? t : `${t}\n`;
    },
    err: (t) => {
      stderr += t.endsWith('\n') ? t : `${t}\n`;
    },
    interactive: options.interactive ?? false,
    confirm: async () => options.confirm ?? false,
    env: options.env ?? {},
    now: options.now ?? Date.now,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

// The temp dirs of writeStateFile, removed once the test file that made them is done.
const stateDirs: string[] = [];
afterAll(() => {
  for (const dir of stateDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes a state file as `npm start` does, in a fresh temp dir; returns its path. */
export function writeStateFile(endpoints: Omit<LocalEndpoints, 'pid'> & { pid?: number }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
  stateDirs.push(dir);
  const file = join(dir, 'sluice.json');
  writeFileSync(file, JSON.stringify({ pid: process.pid, ...endpoints }, null, 2));
  return file;
}
