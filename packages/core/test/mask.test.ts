import { describe, expect, it } from 'vitest';
import { maskSecrets, maskUrl } from '../src/index.js';

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
  });
});
