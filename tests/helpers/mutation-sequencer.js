const Sequencer = require('@jest/test-sequencer').default;
const { recordedTests, startRun } = require('./mutation-runs');

/**
 * jest's own sequencer, run on fewer files: when a run names its tests (`--testNamePattern`, as
 * Stryker does for each mutant), a test file is left out if the index (mutation-runs.js)
 * knows every test it holds and none of them matches, matched as jest-circus matches (the test id,
 * case-insensitively). jest would have loaded such a file only to skip all of it. A file the index
 * does not know yet is kept. Runs without a pattern (Stryker's dry run, a mutant that needs every
 * test) keep every file.
 */
class MutationSequencer extends Sequencer {
  constructor(options) {
    super(options);
    startRun(); // made once per jest run
    const pattern = options.globalConfig.testNamePattern;
    this.testNamePattern = pattern ? new RegExp(pattern, 'i') : undefined;
  }

  holdsANamedTest(test) {
    const names = recordedTests(test.context.config.rootDir, test.path);
    return names === undefined || names.some((name) => this.testNamePattern.test(name));
  }

  sort(tests) {
    return super.sort(this.testNamePattern ? tests.filter((test) => this.holdsANamedTest(test)) : tests);
  }
}

module.exports = MutationSequencer;
