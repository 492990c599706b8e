import { downstreamWarnings } from '../../lib/downstream-url';

const privateOf = (url: string): boolean => downstreamWarnings(url).some((w) => w.includes('private host'));

describe('downstreamWarnings', () => {
  it('says nothing of a public https URL, and warns of plain http', () => {
    expect(downstreamWarnings('https://app.example.com/base')).toEqual([]);
    expect(downstreamWarnings('http://app.example.com')).toEqual([expect.stringContaining('plain http')]);
  });

  it.each([
    'https://localhost:3000',
    'https://localhost.',
    'https://api.localhost',
    'https://app.local',
    'https://db.internal',
    'https://127.0.0.1',
    'https://2130706433',
    'https://10.1.2.3',
    'https://172.16.0.1',
    'https://172.31.255.255',
    'https://192.168.1.10',
    'https://169.254.169.254',
    'https://100.64.1.1',
    'https://0.0.0.0',
    'https://[::1]',
    'https://[::]',
    'https://[fd12:3456::1]',
    'https://[fe80::1]',
    'https://[::ffff:127.0.0.1]',
    'https://[::ffff:a00:1]',
  ])('warns that %s is out of the drainer’s reach', (url) => {
    expect(privateOf(url)).toBe(true);
  });

  it.each([
    'https://10.example.com',
    'https://0.example.com',
    'https://127.example.net',
    'https://172.20.example.com',
    'https://172.15.0.1',
    'https://172.32.0.1',
    'https://100.128.0.1',
    'https://8.8.8.8',
    'https://[2001:db8::1]',
    'https://local.example.com',
  ])('does not warn about %s', (url) => {
    expect(privateOf(url)).toBe(false);
  });
});
