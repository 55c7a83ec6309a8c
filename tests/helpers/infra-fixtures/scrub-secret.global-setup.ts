import { scrubStripeSecret } from '../global-setup';

/**
 * Global setup of the fixture run (infra-secret-trap.test.ts): what the suite's global setup does to
 * the secret, and nothing to the database, which the suite that spawned the run is using.
 */
export default async function fixtureGlobalSetup(): Promise<void> {
  scrubStripeSecret();
}
