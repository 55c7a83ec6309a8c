// First: the STRIPE_SECRET_KEY trap goes in before anything of lib/ is loaded (harness imports lib).
import './env-spy';
import './infra-secret-check';
import './stripe-mock';
import { beginTest, closeWorld, endTest, openWorld, redis } from './harness';
import { resetStripeMocks } from './stripe-mock';

beforeAll(openWorld);
beforeEach(async () => {
  resetStripeMocks();
  await beginTest();
});
afterEach(endTest);
afterAll(async () => {
  // Each test begins with an empty Redis DB; the file also leaves it empty, as it leaves PostgreSQL
  // (rolled back), so after the suite the test DB holds nothing: `npm run test:isolation` checks it.
  try {
    await redis().flushdb();
  } finally {
    await closeWorld();
  }
});
