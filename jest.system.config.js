/**
 * The system tier (`npm run test:stress`, `npm run test:faults`): Lambda containers as separate
 * processes against committed data, real faults injected. Nothing is mocked.
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests/system'],
  testMatch: ['**/*.system.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest'] },
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  testTimeout: 120_000,
};
