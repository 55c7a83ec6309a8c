import './stripe-mock';
import { beginTest, closeWorld, endTest, openWorld } from './harness';
import { spyOnSecretReads } from './env-spy';
import { resetStripeMocks } from './stripe-mock';

spyOnSecretReads();

beforeAll(openWorld);
beforeEach(async () => {
  resetStripeMocks();
  await beginTest();
});
afterEach(endTest);
afterAll(closeWorld);
