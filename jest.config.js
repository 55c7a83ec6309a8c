/** What every project shares: TypeScript through swc, in Node. */
const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest'],
    // The Lua scripts are imported as text, as esbuild bundles them.
    '^.+\\.lua$': '<rootDir>/tests/helpers/text-transform.js',
  },
  moduleFileExtensions: ['ts', 'js', 'json', 'lua'],
  // middy ships ESM only: let swc turn it into CommonJS like our own code.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  // The STRIPE_SECRET_KEY trap, installed before any test module (and so any of lib/) is loaded.
  setupFiles: ['<rootDir>/tests/helpers/env-spy.ts', '<rootDir>/tests/helpers/powertools-env.ts'],
};

/**
 * `npm test` runs both projects; `npm run test:unit` (`--selectProjects unit`) only the first.
 * @type {import('jest').Config}
 */
module.exports = {
  projects: [
    // Pure logic: no PostgreSQL, no Redis, no global setup; seconds.
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/tests/unit'],
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/infra-secret-check.ts'],
    },
    // Handlers end to end against real PostgreSQL and Redis, one rolled-back transaction per test.
    {
      ...shared,
      displayName: 'integration',
      roots: ['<rootDir>/tests/integration'],
      globalSetup: '<rootDir>/tests/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/tests/helpers/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/tests/helpers/setup.ts'],
    },
  ],
  // Here, not per project: jest-circus reads the timeout from the global config only.
  testTimeout: 20_000,
};
