import { isWellFormedSignature, parseSecrets, sign, verify } from '../../core/signature';

// Vectors from research/shopify.md §2.5: Shopify/shopify_app's webhook_verification_test.rb and a
// Shopify-shaped body with escaped slashes and an id above 2^53.
const SHIRT =
  '{"id":788032119674292922,"title":"Example T-Shirt","handle":"example-t-shirt","admin_graphql_api_id":"gid:\\/\\/shopify\\/Product\\/788032119674292922"}';
const SHIRT_UNESCAPED = SHIRT.replaceAll('\\/', '/');

describe('sign', () => {
  it.each([
    ['secret', 'foo=anything', 'yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI='],
    ['old_secret', 'foo=anything', 'XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs='],
    ['hush', SHIRT, 'XN7opACoz7Ctu5WH5onaH2nmBos0StWk8P/zoBJr5PU='],
    ['hush', SHIRT_UNESCAPED, 'QD76OAqY9wxk6vxWrzKllQwD+wLbAr4KpNlGLjwgxsI='],
  ])('signs with key %s to the published value', (key, body, expected) => {
    expect(sign(key, body)).toBe(expected);
    expect(sign(key, Buffer.from(body, 'utf8'))).toBe(expected);
  });

  it('has the escaped-slash body at 148 bytes and the re-serialised one at 144', () => {
    expect(Buffer.byteLength(SHIRT)).toBe(148);
    expect(Buffer.byteLength(SHIRT_UNESCAPED)).toBe(144);
  });
});

describe('verify', () => {
  it.each([
    [
      'accepts the current secret',
      'foo=anything',
      'yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI=',
      ['secret'],
      true,
    ],
    [
      'accepts the old secret during a rotation',
      'foo=anything',
      'XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs=',
      ['secret', 'old_secret'],
      true,
    ],
    [
      'rejects the old signature once the old secret is gone',
      'foo=anything',
      'XqRcjrSv57VACn6apEO9znyu/wkN1VC7QxdSPwK3Hzs=',
      ['secret'],
      false,
    ],
    [
      'rejects a re-serialised body',
      SHIRT_UNESCAPED,
      'XN7opACoz7Ctu5WH5onaH2nmBos0StWk8P/zoBJr5PU=',
      ['hush'],
      false,
    ],
    ['accepts the exact bytes', SHIRT, 'XN7opACoz7Ctu5WH5onaH2nmBos0StWk8P/zoBJr5PU=', ['hush'], true],
    ['rejects a malformed header', 'foo=anything', 'not-base64', ['secret'], false],
    [
      'rejects a truncated header',
      'foo=anything',
      'yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8y',
      ['secret'],
      false,
    ],
    [
      'rejects a non-canonical spelling of the right digest (the app compares the text and would refuse it)',
      'foo=anything',
      'yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yJ=',
      ['secret'],
      false,
    ],
    [
      'rejects when no secret is configured',
      'foo=anything',
      'yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI=',
      [],
      false,
    ],
  ] as const)('%s', (_name, body, header, secrets, expected) => {
    expect(verify(body, header, secrets)).toBe(expected);
  });
});

describe('isWellFormedSignature', () => {
  it.each([
    ['yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI=', true],
    ['yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI', false],
    // The same 32 bytes with an unused low bit of the last character set: not how Shopify writes it.
    ['yCGX/RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yJ=', false],
    ['yCGX_RrK4fcuNtr3ztk5tQGsOBjcAzHpGLdMUrbV8yI=', false],
    ['', false],
    [`${'A'.repeat(43)}==`, false],
  ])('judges %j as %s', (header, expected) => {
    expect(isWellFormedSignature(header)).toBe(expected);
  });
});

describe('parseSecrets', () => {
  it('splits a rotation pair and drops blanks', () => {
    expect(parseSecrets(' new , old ,')).toEqual(['new', 'old']);
    expect(parseSecrets(undefined)).toEqual([]);
  });
});
