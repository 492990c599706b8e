import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS, FIELDS } from '../../core/config';
import { projectRoot } from '../../lib/function';

const README = readFileSync(path.join(projectRoot(), 'README.md'), 'utf8');

/** The README's configuration table rows, by context key: [env, default]. */
function configRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const line of README.split('\n')) {
    const m = /^\| `(\w+)` \| `(\w+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.set(m[1]!, [m[2]!, m[3]!.trim()]);
  }
  return rows;
}

describe('README configuration table', () => {
  it('lists every config field with its environment variable, in FIELDS order', () => {
    const rows = configRows();
    expect([...rows.keys()]).toEqual(FIELDS.map((f) => f.key));
    for (const f of FIELDS) expect(rows.get(f.key)?.[0]).toBe(f.env);
  });

  it('shows each default as core/config.ts has it', () => {
    const rows = configRows();
    for (const [key, value] of Object.entries(DEFAULTS)) {
      const shown = rows.get(key)?.[1];
      if (Array.isArray(value)) expect(shown).toBe('any');
      else if (value === '') expect(shown).toBe('none');
      else expect(shown).toBe(`\`${String(value)}\``);
    }
  });

  it('keeps the local-mode quick start to npm install, npm start and npm run send', () => {
    const quick = README.slice(
      README.indexOf('## Quick start (local mode)'),
      README.indexOf('## Prerequisites'),
    );
    expect(quick).toMatch(/npm install\nnpm start\n[\s\S]*npm run send/);
  });
});
