import './stripe-mock';
import { beginTest, closeWorld, endTest, openWorld } from './harness';
import { secretReads, spyOnSecretReads } from './env-spy';
import { resetStripeMocks } from './stripe-mock';

spyOnSecretReads();

beforeAll(openWorld);
beforeEach(async () => {
  resetStripeMocks();
  await beginTest();
});
afterEach(async () => {
  await endTest();
  // Stripe is mocked: nothing may even look at the real secret key.
  if (secretReads().length > 0) throw new Error(`process.env.STRIPE_SECRET_KEY was read:\n${secretReads()[0]}`);
});
afterAll(closeWorld);
