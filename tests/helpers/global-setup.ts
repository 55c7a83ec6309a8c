import { writeFileSync } from 'node:fs';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';
import { snapshotDatabase } from './infra-db-snapshot';
import { assertTestDatabase, recreateAndMigrate } from './infra-fresh-database';
import { ensureTestServices } from './test-services';

declare global {
  // eslint-disable-next-line no-var
  var stopTestServices: (() => Promise<void>) | undefined;
}

/**
 * Stripe is mocked: nothing in the jest process or its children needs the real key. Test files see a
 * copy of this environment behind the trap (env-spy.ts), but a child process spawned without an
 * explicit env inherits this process's own environment, so the key goes from here too.
 */
export function scrubStripeSecret(): void {
  delete process.env.STRIPE_SECRET_KEY;
}

/**
 * Once per run: refuse Redis DB 0 and a database not named for tests (before anything is touched),
 * make sure the services answer, then drop the test database and migrate a new one from zero, so
 * the suite tests exactly the SQL in db/migrations/ (see infra-fresh-database.ts).
 */
export default async function globalSetup(): Promise<void> {
  if (redisDbIndex(testEnvironment().redisUrl) === 0) {
    throw new Error(
      `refusing to run tests against Redis DB 0 (${testEnvironment().redisUrl}): set TEST_REDIS_URL to a dedicated DB such as redis://127.0.0.1:6379/15`,
    );
  }
  assertTestDatabase(testEnvironment().databaseUrl);
  scrubStripeSecret();
  globalThis.stopTestServices = await ensureTestServices();
  const { databaseUrl } = testEnvironment(); // an embedded PostgreSQL has its own URL
  await recreateAndMigrate(databaseUrl);
  // `npm run test:isolation` compares the database as this run's migration left it with what the
  // run's tests leave.
  const snapshotFile = process.env.TEST_DATABASE_SNAPSHOT_FILE;
  if (snapshotFile) writeFileSync(snapshotFile, JSON.stringify(await snapshotDatabase(databaseUrl)));
}
