/** A module that reads the secret as it is imported, as lib/ must never do (reads-secret-at-import.fixture.ts). */
export const secretAtImport = process.env.STRIPE_SECRET_KEY;
