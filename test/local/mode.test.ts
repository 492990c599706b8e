// Local mode in-process: what it does with settings that only make sense in AWS.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../core/config';
import { startLocalMode } from '../../local/mode';

describe('startLocalMode', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-mode-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says that idleExitSeconds is not applied locally rather than ignoring it silently', async () => {
    let printed = '';
    const local = await startLocalMode({
      config: parseConfig({ downstreamUrl: 'http://127.0.0.1:9', idleExitSeconds: 20 }),
      secrets: ['local-test-secret'],
      port: 0,
      endpointsFile: join(dir, 'endpoints.json'),
      out: { write: (text: string) => (printed += text) },
    });
    await local.stop();

    expect(printed).toContain('Idle exit     not applied locally (idleExitSeconds 20)');
  });
});
