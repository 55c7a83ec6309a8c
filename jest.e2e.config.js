/**
 * `npm run test:e2e`: the service started as a user starts it (serverless offline, the Stripe
 * double) and driven only over HTTP. Nothing is mocked.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/e2e'],
  testMatch: ['**/*.e2e.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest'] },
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  testTimeout: 60_000,
};
