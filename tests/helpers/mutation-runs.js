const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

/**
 * What mutation-environment.js and mutation-sequencer.js share: an index of the tests in each test
 * file, and whether the current mutant run has seen a test fail.
 *
 * The index: which tests each test file holds, by jest's full test name (describe names and test name, joined
 * by spaces: what `--testNamePattern` is matched against), as the last jest run that loaded the file
 * found them; written by the environment, read by the sequencer.
 *
 * Why: for each mutant Stryker's jest runner asks jest for the tests that covered it in the dry run
 * by name (`--testNamePattern`), and for the test files that import the mutated file
 * (`--findRelatedTests`). jest then loads every one of those files, only to skip most of them: an
 * integration test file takes about a second to load, and most of lib/ is imported by every
 * integration test file. With this index the sequencer keeps only the files that hold a test the
 * pattern names, which are the only files jest would have run a test of.
 *
 * One small JSON file per test file under reports/ (git-ignored; in Stryker's sandbox while it runs),
 * written whole and renamed into place, so two Stryker workers never read half a file.
 */
function indexFile(rootDir, testPath) {
  const name = createHash('sha1').update(testPath).digest('hex').slice(0, 16);
  return path.join(rootDir, 'reports', 'mutation-test-index', `${name}.json`);
}

function recordTests(rootDir, testPath, testNames) {
  const file = indexFile(rootDir, testPath);
  mkdirSync(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}`;
  writeFileSync(partial, JSON.stringify({ testPath, testNames }));
  renameSync(partial, file);
}

/** The recorded names, or undefined when no run has loaded the file yet. */
function recordedTests(rootDir, testPath) {
  try {
    const entry = JSON.parse(readFileSync(indexFile(rootDir, testPath), 'utf8'));
    return entry.testPath === testPath && Array.isArray(entry.testNames) ? entry.testNames : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Bail, as Stryker means it (its `disableBail` is off): one failing test kills a mutant, so once a
 * test failed in a mutant run the run's remaining tests are skipped. Stryker's jest runner cannot ask
 * jest to bail (jest's own bail exits the process), so the environment does it. Only in a mutant
 * run (Stryker names the active mutant in the environment); the dry run runs every test, as Stryker
 * needs each test's coverage and a dry run with a failing test is an error anyway. The state is the
 * process's (environments and sequencer are loaded outside the test files' sandboxes) and each jest
 * run starts it afresh (the sequencer is made once per run).
 */
const RUN = Symbol.for('order-service.mutation-run');

function startRun() {
  globalThis[RUN] = { failed: false };
}

function isMutantRun() {
  return Boolean(process.env.__STRYKER_ACTIVE_MUTANT__);
}

function markFailed() {
  if (globalThis[RUN] && isMutantRun()) globalThis[RUN].failed = true;
}

function bailing() {
  return Boolean(globalThis[RUN]?.failed) && isMutantRun();
}

module.exports = { recordTests, recordedTests, startRun, markFailed, bailing };
