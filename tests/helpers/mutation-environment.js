const { TestEnvironment } = require('jest-environment-node');
const { bailing, markFailed, recordTests } = require('./mutation-runs');

/** jest-circus's test id: the names from the outermost describe down to the test, joined by spaces. */
function testId(test) {
  const names = [];
  for (let block = test; block?.parent; block = block.parent) names.unshift(block.name);
  return names.join(' ');
}

function testsIn(describeBlock) {
  return describeBlock.children.flatMap((child) => (child.type === 'test' ? [child] : testsIn(child)));
}

/**
 * jest's node environment (the `testEnvironment: 'node'` of jest.config.js) that also records, once
 * the test file is loaded and before its first test runs, every test the file holds
 * (mutation-runs.js), and skips what is left of a mutant run once a test failed (Stryker's bail, see
 * mutation-runs.js). Stryker wraps it in its own environment for coverage, as it would wrap
 * jest's.
 */
class MutationEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.rootDir = config.projectConfig.rootDir;
    this.testPath = context.testPath;
  }

  async handleTestEvent(event, state) {
    if (event.name === 'run_start') {
      const tests = testsIn(state.rootDescribeBlock);
      recordTests(this.rootDir, this.testPath, tests.map(testId));
      // A file after the failure: no test and so no hook of it runs.
      if (bailing()) for (const test of tests) test.mode = 'skip';
    } else if (event.name === 'test_start' && bailing()) {
      event.test.mode = 'skip'; // read by jest-circus right after this event
    } else if (event.name === 'test_done' && event.test.errors.length > 0) {
      markFailed();
    }
  }
}

module.exports = MutationEnvironment;
