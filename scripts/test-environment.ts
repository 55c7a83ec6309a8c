/**
 * Where the test tiers run: their own database and Redis DB, never the service's (the service's
 * configuration is lib/config.ts; this is the tests' own).
 */
export function testEnvironment(env: NodeJS.ProcessEnv = process.env): { databaseUrl: string; redisUrl: string } {
  return {
    databaseUrl: env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/orders_test',
    redisUrl: env.TEST_REDIS_URL || 'redis://127.0.0.1:6379/15',
  };
}

/** The Redis DB index a URL selects (redis://host:port/N), 0 when none is given. */
export function redisDbIndex(url: string): number {
  const path = new URL(url).pathname.replace(/^\//, '');
  return path === '' ? 0 : Number(path);
}
