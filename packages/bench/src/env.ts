export const databaseUrl =
  process.env.EVCO_BENCH_DATABASE_URL ??
  process.env.EVCO_TEST_DATABASE_URL ??
  'postgresql://postgres@127.0.0.1:5432/test';
export const redisUrl =
  process.env.EVCO_BENCH_REDIS_URL ?? process.env.EVCO_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
