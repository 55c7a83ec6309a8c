/**
 * `npm run test:e2e`: the service started as a user starts it (serverless offline, the Stripe
 * double) and driven only over HTTP. Nothing is mocked.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest'],
    // The Lua scripts are imported as text, as esbuild bundles them.
    '^.+\\.lua$': '<rootDir>/tests/helpers/text-transform.js',
  },
  moduleFileExtensions: ['ts', 'js', 'json', 'lua'],
  // middy ships ESM only: let swc turn it into CommonJS like our own code.
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  roots: ['<rootDir>/tests/e2e'],
  testMatch: ['**/*.e2e.ts'],
  testTimeout: 60_000,
};
