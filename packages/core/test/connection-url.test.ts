import { describe, expect, it } from 'vitest';
import { parsesAsPostgresUrl } from '../src/adapter.js';

describe('parsesAsPostgresUrl', () => {
  it('accepts what pg (pg-connection-string 2.x) accepts', () => {
    // An empty host (socket), a socket directory as a parameter, a space or a stray % in the
    // password (pg encodes them), the ordinary forms.
    for (const good of [
      'postgresql://app@/db',
      'postgresql:///db?host=/var/run/postgresql',
      'postgresql://app:p ss@db/app',
      'postgresql://app:p%zz@db/app',
      'postgresql://app:s3cr%40t@db.internal:5432/app?sslmode=require',
      'postgres://db/app',
    ]) {
      expect(parsesAsPostgresUrl(good), good).toBe(true);
    }
  });

  it('refuses what pg would refuse at its first connection', () => {
    for (const bad of [
      'postgresql://app:s3cret@db:99999/app', // port above 65535
      'postgresql://app:s3c#ret@db/app', // an unencoded # ends the URL inside the password
      'postgresql://app:s3cret@db/%', // a database name that does not decode
      'postgresql://app@/%',
      'postgresql://app:s3cret@db:port/app',
    ]) {
      expect(parsesAsPostgresUrl(bad), bad).toBe(false);
    }
  });
});
