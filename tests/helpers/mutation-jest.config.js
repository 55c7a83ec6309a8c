const path = require('node:path');
const base = require('../../jest.config.js');

/**
 * jest.config.js for Stryker (`npm run test:mutation`, stryker.config.json): the same tests, one
 * project instead of two.
 *
 * Why one: Stryker's jest runner swaps its own test environment in (it records which test covers
 * which mutant, and counts hits against endless loops) at the top level of the config it gets;
 * jest's `projects` each keep their own `testEnvironment`, so with projects there is no per-test
 * coverage and Stryker refuses the dry run. The unit and integration projects differ only in their
 * roots, their setupFilesAfterEnv (mutation-setup.ts picks the right one per test file) and the
 * integration project's global setup (mutation-global-setup.ts: this Stryker worker's own database
 * and Redis DB, recreated only when a run left it changed).
 *
 * Everything else comes from jest.config.js, so the two cannot drift apart.
 */
const [unit, integration] = base.projects;
if (unit?.displayName !== 'unit' || integration?.displayName !== 'integration') {
  throw new Error('tests/helpers/mutation-jest.config.js expects jest.config.js projects [unit, integration]');
}
const { displayName: _unitName, roots: unitRoots, setupFilesAfterEnv: _unitSetup, ...shared } = unit;
if (shared.testEnvironment !== 'node') {
  throw new Error('tests/helpers/mutation-environment.js extends the node environment jest.config.js no longer uses');
}

const rootDir = path.resolve(__dirname, '..', '..');
const testRoots = [...unitRoots, ...integration.roots].map((root) => root.replace('<rootDir>', rootDir));

/** @type {import('jest').Config} */
module.exports = {
  ...shared,
  rootDir,
  // The whole tree, not only the test roots: Stryker runs, for each mutant, only the test files that
  // depend on the mutated file (jest --findRelatedTests), and jest sees a dependency only through
  // files it has indexed: an integration test reaches lib/ through handlers/ and tests/helpers/.
  roots: ['<rootDir>'],
  testMatch: testRoots.flatMap((root) => shared.testMatch.map((pattern) => `${root}/${pattern}`)),
  // Absolute: Stryker loads the environment itself (to wrap it), and knows no <rootDir>.
  testEnvironment: path.join(rootDir, 'tests', 'helpers', 'mutation-environment.js'),
  testSequencer: path.join(rootDir, 'tests', 'helpers', 'mutation-sequencer.js'),
  modulePathIgnorePatterns: ['.stryker-tmp', 'reports', '.data', '.serverless', '.esbuild', '.build', 'coverage'].map(
    (dir) => `<rootDir>/${dir}/`,
  ),
  globalSetup: '<rootDir>/tests/helpers/mutation-global-setup.ts',
  globalTeardown: integration.globalTeardown,
  setupFilesAfterEnv: ['<rootDir>/tests/helpers/mutation-setup.ts'],
  testTimeout: base.testTimeout,
};
