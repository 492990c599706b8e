import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sluice } from '../helpers/cli';
import { cleanEnv, startLocalChild } from '../helpers/local-mode';

const ROOT = join(__dirname, '..', '..');

/** Runs `npm start` to its exit (bounded) and returns its exit code and output. */
function runStart(
  env: Readonly<Record<string, string>>,
  args: readonly string[] = [],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--silent', ...(args.length > 0 ? ['--', ...args] : [])], {
      cwd: ROOT,
      env: {
        ...cleanEnv(),
        SLUICE_LOCAL_FILE: join(ROOT, '.local', `cli-test-${process.pid}.json`),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString('utf8');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm start did not exit within 30 s:\n${output}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm start errors', () => {
  it('exits non-zero with one line naming the port and how to change it when the port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    const { code, output } = await runStart({ PORT: String(port) });

    await new Promise<void>((r) => blocker.close(() => r()));
    expect(code).not.toBe(0);
    expect(output).toContain(
      `sluice: port ${port} is already in use; choose another with PORT=<n> or --port <n>`,
    );
  });

  it('exits non-zero with the ConfigError text when DOWNSTREAM_URL is not a URL', async () => {
    const { code, output } = await runStart({ PORT: '0', DOWNSTREAM_URL: 'localhost:8080/webhooks' });

    expect(code).not.toBe(0);
    expect(output).toContain(
      'sluice: Invalid Sluice configuration: DOWNSTREAM_URL (downstreamUrl) = "localhost:8080/webhooks"',
    );
  });

  it('names the flag when a value given as one is bad', async () => {
    const { code, output } = await runStart({ PORT: '0' }, ['--rate-ceiling', 'abc']);

    expect(code).toBe(2);
    expect(output).toContain('RATE_CEILING (rateCeilingPerSecond) = "abc"');
    expect(output).toContain('(given as --rate-ceiling)');
  });

  it('exits non-zero naming the other process when the state directory is in use', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-lock-'));
    const first = await startLocalChild({ SLUICE_STATE_DIR: join(dir, 'state') }, join(dir, 'a.json'));
    try {
      const { code, output } = await runStart({ PORT: '0', SLUICE_STATE_DIR: join(dir, 'state') });

      expect(code).not.toBe(0);
      expect(output).toContain(`is in use by another local Sluice (pid ${first.endpoints.pid})`);
    } finally {
      await first.stop('SIGINT');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses to take over the endpoints file of a local Sluice that still runs, which stays reachable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-endpoints-'));
    const file = join(dir, 'endpoints.json');
    const first = await startLocalChild({}, file);
    try {
      const { code, output } = await runStart({ PORT: '0', SLUICE_LOCAL_FILE: file });

      expect(code).toBe(1);
      expect(output).toContain(
        `belongs to another local Sluice (pid ${first.endpoints.pid}) that is still running`,
      );
      // The first one's file is untouched, and the CLI finds it through the same variable.
      expect(JSON.parse(await readFile(file, 'utf8')).pid).toBe(first.endpoints.pid);
      const status = await sluice(['--local', 'status', '--json'], { env: { SLUICE_LOCAL_FILE: file } });
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout).queue).toBeDefined();
    } finally {
      await first.stop('SIGINT');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
