import { describe, expect, it } from 'vitest';
import { describeError, maskSecrets, maskUrl } from '../src/index.js';

describe('maskUrl / maskSecrets', () => {
  it('masks passwords in connection URLs and secret query parameters, keeping the rest', () => {
    expect(maskUrl('postgresql://app:s3cr%40t@db.internal:5432/app?sslmode=require')).toBe(
      'postgresql://app:***@db.internal:5432/app?sslmode=require',
    );
    expect(maskUrl('redis://:hunter2@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(maskUrl('rediss://default:pw@cache:6380?password=pw2&db=1')).toBe(
      'rediss://default:***@cache:6380?password=***&db=1',
    );
    expect(maskUrl('postgresql://app@db/app')).toBe('postgresql://app@db/app');
    expect(maskUrl('./data/events.db')).toBe('./data/events.db');
  });

  it('scrubs credentials out of free text such as driver errors', () => {
    const text = 'connect failed for postgres://u:topsecret@h:5432/d (password=alsosecret; token: abc123)';
    const masked = maskSecrets(text);
    expect(masked).not.toMatch(/topsecret|alsosecret|abc123/);
    expect(masked).toContain('postgres://u:***@h:5432/d');
    // A scheme of any length (matched on its last letters), after a long word without one.
    const long = maskSecrets(`${'x'.repeat(5000)} ${'a'.repeat(60)}+db://u:QQQ@h/d`);
    expect(long).not.toMatch(/Q/);
    expect(long.endsWith(`${'a'.repeat(60)}+db://u:***@h/d`)).toBe(true);
  });
});

describe('describeError: credentials at the 4000-character cut', () => {
  // describeError keeps 3999 characters and an ellipsis. The password is all Q, which nothing
  // else in these texts holds: no Q in the output means no part of the password leaked.
  const LIMIT = 4000;
  const noPartOfThePassword = (text: string) => {
    expect(text).not.toMatch(/Q/);
    expect(text.length).toBeLessThanOrEqual(LIMIT);
  };

  /** An error message where `secret` begins at `k` characters before the cut (the cut falls `k` characters into it). */
  function errorCutAt(secret: string, k: number, after = '@db.internal:5432/app and more'): Error {
    const shownBefore = 'Error: '.length;
    const start = LIMIT - 1 - k; // where `secret` begins in the description
    return new Error(`${'x'.repeat(start - shownBefore)}${secret}${after}`);
  }

  for (const secret of ['postgresql://app:QQQQQQQQQQQQ', 'redis://:QQQQQQQQ', 'postgresql://app:Q']) {
    it(`masks ${secret}@… wherever the cut falls in it, or just after it`, () => {
      for (let k = 0; k <= secret.length + 2; k++) {
        const text = describeError(errorCutAt(secret, k));
        noPartOfThePassword(text);
        expect(text.endsWith('…')).toBe(true);
      }
    });
  }

  it('keeps what comes before the password: the user, and *** where the cut fell in the password', () => {
    const secret = 'postgresql://app:QQQQQQQQQQQQ';
    const text = describeError(errorCutAt(secret, 'postgresql://app:QQQQ'.length));
    expect(text.endsWith('postgresql://app:***…')).toBe(true);
    // A cut in the user name shows the user name only: no password is there yet.
    expect(describeError(errorCutAt(secret, 'postgresql://ap'.length)).endsWith('postgresql://ap…')).toBe(
      true,
    );
  });

  it('masks a password= value, quoted or not, that the cut falls in', () => {
    for (const secret of [
      'password=QQQQQQQQ',
      'password="QQQQ QQQQ QQQQ"',
      "pwd='QQQQ QQQQ'",
      'token: QQQQQQ',
    ]) {
      for (let k = 0; k <= secret.length + 1; k++) {
        noPartOfThePassword(describeError(errorCutAt(secret, k, ' and more')));
      }
    }
  });

  it('masks a password across the cut in a thrown string or object, not only an Error', () => {
    const secret = 'postgresql://app:QQQQQQQQQQQQ';
    for (let k = 0; k <= secret.length; k++) {
      const filler = 'x'.repeat(LIMIT - 1 - k - 'non-error thrown: '.length);
      noPartOfThePassword(describeError(`${filler}${secret}@db/app`));
      const inJson = 'x'.repeat(LIMIT - 1 - k - 'non-error thrown: {"url":"'.length);
      noPartOfThePassword(describeError({ url: `${inJson}${secret}@db/app` }));
    }
  });

  it('still masks whole credentials before the cut and leaves a URL without one as it was', () => {
    const text = describeError(new Error(`connect postgresql://app:QQQ@db/app failed ${'x'.repeat(5000)}`));
    expect(text).toContain('postgresql://app:***@db/app');
    noPartOfThePassword(text);
    // A port and path cut short are not a password (no change).
    const hostOnly = 'postgresql://db.internal:5432/app';
    expect(
      describeError(errorCutAt(hostOnly, hostOnly.length - 2, 'p?x=1')).endsWith(
        'postgresql://db.internal:5432/a…',
      ),
    ).toBe(true);
  });
});
