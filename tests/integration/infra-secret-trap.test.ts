import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '../../scripts/local-stack';
import { TRAP_MESSAGE } from '../helpers/env-spy';
import { SECRET_ACCESSES } from '../helpers/infra-fixtures/secret-accesses';

/**
 * The control for the STRIPE_SECRET_KEY trap (tests/helpers/env-spy.ts): a jest run of its own, with
 * the suite's jest project (its setupFiles and setupFilesAfterEnv exactly as jest.config.js has
 * them), over fixture test files that touch the key in every way. The run must fail, each touching
 * test with the trap's message naming its kind of access; the tests that only enumerate the
 * environment must pass and show neither the key nor its value. The key is a canary, set for the
 * run and, before the trap goes in, in the test file's environment too (secret-in-sandbox.setup.ts):
 * the trap must hide it, and global setup must have taken it from the jest process itself.
 */
interface FileResult {
  name: string;
  status: string;
  message: string;
  assertionResults: { title: string; ancestorTitles: string[]; status: string; failureMessages: string[] }[];
}

const CANARY = `sk_test_canary_${process.pid}_never_to_be_seen`;
const FIXTURES = 'tests/helpers/infra-fixtures';

/** The suite's own jest project (the one whose setup is tests/helpers/setup.ts), aimed at the fixtures. */
function fixtureRunConfig(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const base = require(join(ROOT, 'jest.config.js')) as Record<string, unknown> & { projects?: unknown[] };
  const projects = (base.projects ?? [base]) as Record<string, unknown>[];
  const suite = projects.find(
    (p) => typeof p === 'object' && JSON.stringify(p.setupFilesAfterEnv ?? []).includes('tests/helpers/setup.ts'),
  );
  if (!suite) throw new Error('jest.config.js has no project whose setupFilesAfterEnv is tests/helpers/setup.ts');
  const config: Record<string, unknown> = { ...suite, testTimeout: base.testTimeout };
  // Not the suite's global setup: it would drop the database this suite is using.
  for (const key of ['projects', 'displayName', 'globalTeardown']) delete config[key];
  return JSON.stringify({
    ...config,
    rootDir: ROOT,
    roots: [`<rootDir>/${FIXTURES}`],
    testMatch: ['**/*.fixture.ts'],
    globalSetup: `<rootDir>/${FIXTURES}/scrub-secret.global-setup.ts`,
    setupFiles: [
      `<rootDir>/${FIXTURES}/secret-in-sandbox.setup.ts`,
      ...((config.setupFiles as string[] | undefined) ?? []),
    ],
  });
}

/** Runs jest over the fixtures; never rejects (a failing run is the point). */
function jestOverFixtures(outputFile: string): Promise<{ exitCode: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      join(ROOT, 'node_modules', '.bin', 'jest'),
      ['--config', fixtureRunConfig(), '--runInBand', '--ci', '--json', `--outputFile=${outputFile}`],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          STRIPE_SECRET_KEY: CANARY,
          INFRA_SECRET_CANARY_HEX: Buffer.from(CANARY).toString('hex'),
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (_error, stdout, stderr) => resolve({ exitCode: child.exitCode, output: `${stdout}${stderr}` }),
    );
  });
}

let run: { exitCode: number | null; output: string; json: string; files: Map<string, FileResult> };

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'secret-trap-'));
  const outputFile = join(dir, 'fixture-run.json');
  try {
    const { exitCode, output } = await jestOverFixtures(outputFile);
    const json = readFileSync(outputFile, 'utf8');
    const files = new Map<string, FileResult>();
    for (const file of (JSON.parse(json) as { testResults: FileResult[] }).testResults)
      files.set(relative(join(ROOT, FIXTURES), file.name), file);
    run = { exitCode, output, json, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

function fixtureTest(file: string, title: string): FileResult['assertionResults'][number] {
  const found = run.files.get(file)?.assertionResults.find((t) => t.title === title);
  if (!found) throw new Error(`the fixture run has no test "${title}" in ${file}:\n${run.output}`);
  return found;
}

test('a run whose tests touch the key exits non-zero', () => {
  expect(run.exitCode).toBe(1);
});

test.each(SECRET_ACCESSES)(
  'a test that touches the key by $name fails, with the trap naming the access ($kind)',
  ({ name, kind }) => {
    const result = fixtureTest('reads-secret.fixture.ts', name);

    expect(result.status).toBe('failed');
    expect(result.failureMessages.join('\n')).toContain(
      `${TRAP_MESSAGE}: process.env.STRIPE_SECRET_KEY was accessed (${kind})`,
    );
  },
);

test('a file that reads the key as it is imported fails to load, with the trap message', () => {
  const file = run.files.get('reads-secret-at-import.fixture.ts');

  expect(file?.status).toBe('failed');
  expect(file?.assertionResults).toEqual([]);
  expect(file?.message).toContain(`${TRAP_MESSAGE}: process.env.STRIPE_SECRET_KEY was accessed (get)`);
});

test('an access at import whose error was swallowed fails the first test of its file', () => {
  const result = fixtureTest(
    'swallows-secret-access-at-import.fixture.ts',
    'is failed by the access its file made at import',
  );

  expect(result.status).toBe('failed');
  expect(result.failureMessages.join('\n')).toContain(
    `${TRAP_MESSAGE}: process.env.STRIPE_SECRET_KEY was accessed (has)`,
  );
});

test.each([
  'spreads, keys, entries, JSON, for...in and inspect work and show neither the key nor its value',
  'a child process spawned with a copy of the environment, or with none, does not get the key',
  'a test that leaves the key alone passes',
])('enumerating the environment still works and hands over nothing: %s', (title) => {
  const result = fixtureTest('reads-secret.fixture.ts', title);

  expect(result.failureMessages).toEqual([]);
  expect(result.status).toBe('passed');
});

test("the secret's value appears nowhere in the run's output", () => {
  expect(run.output).toContain('STRIPE_SECRET_KEY'); // the trap's messages are there ...
  expect(run.output).not.toContain(CANARY); // ... the value is not
  expect(run.json).not.toContain(CANARY);
});
