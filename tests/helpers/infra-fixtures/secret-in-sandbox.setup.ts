/**
 * First setup file of the fixture run (infra-secret-trap.test.ts), before the trap is installed: the
 * run's global setup took STRIPE_SECRET_KEY out of the jest process's environment, as the suite's
 * does, so the test file's copy of it would not have the key either. Put the canary back into that
 * copy, as a jest run without that global setup would have it, so the fixture shows that the trap
 * itself keeps the key out of every enumeration.
 */
process.env.STRIPE_SECRET_KEY = Buffer.from(process.env.INFRA_SECRET_CANARY_HEX ?? '', 'hex').toString();
