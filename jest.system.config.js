/**
 * The system tier (`npm run test:stress`, `test:races`, `test:faults`): Lambda containers as
 * separate processes against committed data, real faults injected. Nothing is mocked.
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
  roots: ['<rootDir>/tests/system'],
  testMatch: ['**/*.system.ts'],
  testTimeout: 120_000,
};
