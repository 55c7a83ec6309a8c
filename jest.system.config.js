const base = require('./jest.config.js');

/**
 * The system tier (`npm run test:stress`, `npm run test:faults`): Lambda containers as separate
 * processes against committed data, real faults injected. Nothing is mocked.
 * @type {import('jest').Config}
 */
module.exports = {
  ...base,
  globalSetup: undefined,
  globalTeardown: undefined,
  setupFilesAfterEnv: [],
  roots: ['<rootDir>/tests/system'],
  testMatch: ['**/*.system.ts'],
  testTimeout: 120_000,
};
