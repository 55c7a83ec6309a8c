import { forgetSecretAccesses, secretAccesses } from './env-spy';

/**
 * Fails the test (afterEach) or the file (afterAll) during which process.env.STRIPE_SECRET_KEY was
 * accessed, even if the trap's error was caught and swallowed by the code under test. An access
 * outside any test (at import, in a beforeAll) is reported by the first check that runs after it.
 * For jest's setupFilesAfterEnv (it registers hooks); tests/helpers/setup.ts imports it.
 */
function failOnSecretAccess(): void {
  const accesses = [...secretAccesses()];
  if (accesses.length === 0) return;
  forgetSecretAccesses(); // reported once, against the test that made them
  throw new Error(`${accesses.length} access(es) to process.env.STRIPE_SECRET_KEY; the first:\n${accesses[0]}`);
}

afterEach(failOnSecretAccess);
afterAll(failOnSecretAccess);
