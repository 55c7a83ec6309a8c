const base = require('./jest.config.js');

/**
 * `npm run test:e2e`: the service started as a user starts it (serverless offline, the Stripe
 * double) and driven only over HTTP. Nothing is mocked.
 * @type {import('jest').Config}
 */
module.exports = {
  ...base,
  globalSetup: undefined,
  globalTeardown: undefined,
  setupFilesAfterEnv: [],
  roots: ['<rootDir>/tests/e2e'],
  testMatch: ['**/*.e2e.ts'],
  testTimeout: 60_000,
};
