import { describe, expect, it } from 'vitest';
import { poolConnection, sessionSettings, sessionSettingsDropped } from '../src/session-settings.js';

describe('session settings of the store’s own connections', () => {
  it('asks for generic plans only with prepared statements, and for a timeout only when there is one', () => {
    expect(sessionSettings({ statementTimeoutMs: 30_000, preparedStatements: true })).toEqual({
      plan_cache_mode: 'force_generic_plan',
      statement_timeout: '30000',
    });
    expect(sessionSettings({ statementTimeoutMs: 0, preparedStatements: true })).toEqual({
      plan_cache_mode: 'force_generic_plan',
    });
    expect(sessionSettings({ statementTimeoutMs: 0, preparedStatements: false })).toBeUndefined();
  });

  it('sees a pooler in any setting that did not arrive, and nothing in what it did not send', () => {
    const sent = { plan_cache_mode: 'force_generic_plan', statement_timeout: '30000' };
    expect(sessionSettingsDropped(sent, { ...sent })).toBe(false);
    expect(sessionSettingsDropped(sent, { plan_cache_mode: 'auto', statement_timeout: '30000' })).toBe(true);
    expect(
      sessionSettingsDropped(sent, { plan_cache_mode: 'force_generic_plan', statement_timeout: '0' }),
    ).toBe(true);
    expect(
      sessionSettingsDropped(
        { statement_timeout: '5000' },
        { plan_cache_mode: 'auto', statement_timeout: '5000' },
      ),
    ).toBe(false);
  });

  it("keeps a connection string's own startup options, adding the store's after them", () => {
    const url = 'postgresql://u@h/db?options=-c%20TimeZone%3DUTC';
    const config = poolConnection(url, { plan_cache_mode: 'force_generic_plan' });
    expect(config.options).toBeUndefined();
    expect(new URL(config.connectionString!).searchParams.get('options')).toBe(
      '-c TimeZone=UTC -c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off',
    );
    expect(poolConnection('postgresql://u@h/db', undefined)).toEqual({
      connectionString: 'postgresql://u@h/db',
    });
  });
});
