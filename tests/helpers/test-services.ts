import { join } from 'node:path';
import {
  postgresAnswers,
  ROOT,
  redisAnswers,
  type Started,
  startPostgres,
  startRedis,
} from '../../scripts/local-stack';
import { testEnvironment } from '../../scripts/test-environment';

/**
 * PostgreSQL and Redis for the suite: the ones at TEST_DATABASE_URL / TEST_REDIS_URL when they
 * answer (CI, docker compose, local services); otherwise an embedded PostgreSQL and redis-server
 * from PATH, so `npm test` works on a machine with only Node. The URLs are written back to the
 * environment for the test files.
 */
export async function ensureTestServices(
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<() => Promise<void>> {
  const { databaseUrl, redisUrl } = testEnvironment();
  const stops: (() => Promise<void>)[] = [];
  const admin = Object.assign(new URL(databaseUrl), { pathname: '/postgres' }).toString();
  if (!(await postgresAnswers(admin))) {
    const pg: Started = await startPostgres(databaseUrl, join(ROOT, '.data', 'test-postgres'), log);
    process.env.TEST_DATABASE_URL = pg.url;
    stops.push(pg.stop);
  }
  if (!(await redisAnswers(redisUrl))) {
    const redis: Started = await startRedis(redisUrl, join(ROOT, '.data'), log);
    process.env.TEST_REDIS_URL = redis.url.replace(/\/0$/, '/15');
    stops.push(redis.stop);
  }
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
