import { execFileSync } from 'node:child_process';
import { redisDbIndex, testEnvironment } from '../../lib/config';
import { ensureDatabase } from '../../scripts/local-stack';
import { ensureTestServices } from './test-services';

declare global {
  // eslint-disable-next-line no-var
  var stopTestServices: (() => Promise<void>) | undefined;
}

/** Once per run: refuse Redis DB 0, make sure the services answer, create and migrate the test database. */
export default async function globalSetup(): Promise<void> {
  if (redisDbIndex(testEnvironment().redisUrl) === 0) {
    throw new Error(
      `refusing to run tests against Redis DB 0 (${testEnvironment().redisUrl}): set TEST_REDIS_URL to a dedicated DB such as redis://127.0.0.1:6379/15`,
    );
  }
  globalThis.stopTestServices = await ensureTestServices();
  const { databaseUrl } = testEnvironment();
  await ensureDatabase(databaseUrl);
  execFileSync('npm', ['run', '--silent', 'db:migrate'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
