/**
 * `npm run test:isolation [-- --seeds=A,B]`: runs the whole suite twice, each time with the test
 * FILES and the tests within each file in a random order of its own seed, and fails unless:
 * 1. both jest runs exit 0 with no suite-level failure: a file that fails to import, or whose
 *    beforeAll/afterAll fails, has no failed test to show for it, and when broken in both runs would
 *    otherwise be invisible;
 * 2. both runs ran the same test files, and every test passed in both;
 * 3. the test database holds after each run exactly what that run's own migration left in it
 *    (global-setup recreates it from zero every run and snapshots it for us): no row, no committed
 *    schema change left behind;
 * 4. Redis holds after each run exactly what it held before: nothing. The test DB is flushed before
 *    each test and after each file (tests/helpers/setup.ts), so it must end empty; every other DB
 *    must not gain a key. To see every DB while other people use the shared Redis, the check runs a
 *    redis-server of its own (from PATH; without one it checks the test DB of TEST_REDIS_URL only),
 *    and points the service's own REDIS_URL and DATABASE_URL at it and at the test database: code
 *    that reaches for the production config instead of the test's deps writes where we look.
 * The file order comes from tests/helpers/infra-seeded-sequencer.js; rerun a failure with its seeds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Redis from 'ioredis';
import { freePort, ROOT, StackError, type Started, startRedis } from '../../scripts/local-stack';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';
import { type DbSnapshot, snapshotDatabase } from '../helpers/infra-db-snapshot';
import { ensureTestServices } from '../helpers/test-services';

const SEQUENCER = join(ROOT, 'tests', 'helpers', 'infra-seeded-sequencer.js');

interface JestJson {
  success: boolean;
  numTotalTests: number;
  testResults: {
    name: string;
    status: string;
    message: string;
    assertionResults: { fullName: string; status: string }[];
  }[];
}

interface Run {
  seed: number;
  /** test -> status */
  tests: Map<string, string>;
  /** test file -> status, in the order the run finished them */
  files: Map<string, string>;
  problems: string[];
}

/** Where the suite's Redis lives for the check, and which of its DBs are compared. */
interface RedisTarget {
  testUrl: string;
  /** The service's REDIS_URL during the runs (a private server's DB 0), if the server is ours. */
  serviceUrl: string | undefined;
  dbs: number[];
  describe: string;
}

async function snapshotRedis(target: RedisTarget): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const redis = new Redis(target.testUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const db of target.dbs) {
      await redis.select(db);
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
        cursor = next;
        for (const key of batch) keys.set(`db ${db} ${key}`, await redis.type(key));
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return keys;
}

async function emptyRedis(target: RedisTarget): Promise<void> {
  const redis = new Redis(target.testUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const db of target.dbs) {
      await redis.select(db);
      await redis.flushdb();
    }
  } finally {
    redis.disconnect();
  }
}

function differences<V>(a: Map<string, V>, b: Map<string, V>): string[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys
    .filter((k) => a.get(k) !== b.get(k))
    .map((k) => `${k}: ${String(a.get(k) ?? '(none)')} -> ${String(b.get(k) ?? '(none)')}`);
}

const firstLines = (text: string, n: number) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, n)
    .join('\n      ');

async function runSuite(label: string, seed: number, dir: string, redis: RedisTarget): Promise<Run> {
  const { databaseUrl } = testEnvironment();
  const outputFile = join(dir, `run-${seed}.json`);
  const snapshotFile = join(dir, `db-migrated-${seed}.json`);
  const run: Run = { seed, tests: new Map(), files: new Map(), problems: [] };
  const problem = (text: string) => run.problems.push(`run ${label} (seed ${seed}): ${text}`);

  await emptyRedis(redis);
  const redisBefore = await snapshotRedis(redis);
  const args = [
    '--runInBand',
    '--randomize',
    `--seed=${seed}`,
    `--testSequencer=${SEQUENCER}`,
    '--json',
    `--outputFile=${outputFile}`,
  ];
  process.stdout.write(`\n== run ${label}: jest ${args.slice(0, 4).join(' ')}\n`);
  const jest = spawnSync(join(ROOT, 'node_modules', '.bin', 'jest'), args, {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      TEST_REDIS_URL: redis.testUrl,
      TEST_DATABASE_SNAPSHOT_FILE: snapshotFile,
      DATABASE_URL: databaseUrl,
      ...(redis.serviceUrl ? { REDIS_URL: redis.serviceUrl } : {}),
    },
  });
  if (jest.status !== 0)
    problem(`jest exited with ${jest.status === null ? `signal ${jest.signal}` : `status ${jest.status}`}`);

  if (existsSync(outputFile)) {
    const report = JSON.parse(readFileSync(outputFile, 'utf8')) as JestJson;
    for (const file of report.testResults) {
      const name = relative(ROOT, file.name);
      run.files.set(name, file.status);
      for (const test of file.assertionResults) run.tests.set(`${name} > ${test.fullName}`, test.status);
      // A failed file none of whose tests failed: it failed to load, or a hook outside any test failed.
      if (file.status !== 'passed' && !file.assertionResults.some((t) => t.status === 'failed')) {
        const message = firstLines(file.message || '(no message)', 6);
        problem(`${name} failed outside any test (${file.assertionResults.length} test results):\n      ${message}`);
      }
    }
    const notPassed = [...run.tests].filter(([, s]) => s !== 'passed').map(([name, s]) => `${name}: ${s}`);
    if (notPassed.length > 0) problem(`tests that did not pass:\n  ${notPassed.join('\n  ')}`);
    if (report.numTotalTests === 0) problem('no test ran');
  } else {
    problem('jest wrote no JSON report (it did not get as far as running the tests)');
  }

  if (existsSync(snapshotFile)) {
    const migrated = new Map(Object.entries(JSON.parse(readFileSync(snapshotFile, 'utf8')) as DbSnapshot));
    const after = new Map(Object.entries(await snapshotDatabase(databaseUrl)));
    const changed = differences(migrated, after);
    if (changed.length > 0)
      problem(`the test database differs from what this run's migration left:\n  ${changed.join('\n  ')}`);
  } else {
    problem(`global-setup wrote no snapshot of the freshly migrated database (${snapshotFile})`);
  }
  const redisChanged = differences(redisBefore, await snapshotRedis(redis));
  if (redisChanged.length > 0)
    problem(`Redis (${redis.describe}) holds keys it did not hold before the run:\n  ${redisChanged.join('\n  ')}`);

  const passed = [...run.tests.values()].filter((s) => s === 'passed').length;
  const order = [...run.files.keys()].map((f) => f.replace(/^tests\//, '')).join(', ');
  process.stdout.write(
    `   exit ${jest.status}; ${run.files.size} files, ${run.tests.size} tests, ${passed} passed; file order: ${order}\n`,
  );
  return run;
}

/** A redis-server of the check's own (every DB on it is the suite's), or the shared one's test DB. */
async function redisTarget(): Promise<{ target: RedisTarget; stop: () => Promise<void> }> {
  const { redisUrl } = testEnvironment();
  const index = redisDbIndex(redisUrl);
  let server: Started;
  try {
    // A URL nothing answers at, so startRedis starts redis-server on a free port.
    server = await startRedis(`redis://127.0.0.1:${await freePort()}/0`, join(ROOT, '.data'), () => undefined);
  } catch (error) {
    if (!(error instanceof StackError)) throw error;
    process.stdout.write(
      `no redis-server on PATH: checking only DB ${index} of ${redisUrl}; keys the suite writes to other DBs go unseen\n`,
    );
    return {
      target: { testUrl: redisUrl, serviceUrl: undefined, dbs: [index], describe: `DB ${index}` },
      stop: async () => undefined,
    };
  }
  const testUrl = Object.assign(new URL(server.url), { pathname: `/${index}` }).toString();
  const probe = new Redis(server.url);
  const databases = Number(((await probe.config('GET', 'databases')) as string[])[1] ?? 16);
  probe.disconnect();
  process.stdout.write(
    `Redis: ${server.where}, its own for this check; the suite's DB is ${index}, the service's REDIS_URL DB 0; all ${databases} DBs compared\n`,
  );
  return {
    target: {
      testUrl,
      serviceUrl: server.url,
      dbs: [...Array(databases).keys()],
      describe: `every DB of the check's redis-server`,
    },
    stop: server.stop,
  };
}

function seeds(): [number, number] {
  const given = process.argv.find((a) => a.startsWith('--seeds='));
  if (given) {
    const [a, b] = given.slice('--seeds='.length).split(',').map(Number);
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b))
      throw new Error(`--seeds=A,B takes two integers (got ${given})`);
    return [a as number, b as number];
  }
  const first = 1 + Math.floor(Math.random() * 1_000_000);
  return [first, first + 1 + Math.floor(Math.random() * 1_000_000)];
}

async function main(): Promise<void> {
  // Started once here (if needed) and handed to both runs through the environment.
  const stopServices = await ensureTestServices();
  const redis = await redisTarget();
  try {
    await check(redis.target);
  } finally {
    await redis.stop();
    await stopServices();
  }
}

async function check(redis: RedisTarget): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'isolation-'));
  const [first, second] = seeds();
  let runA: Run;
  let runB: Run;
  try {
    runA = await runSuite('A', first, dir, redis);
    runB = await runSuite('B', second, dir, redis);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const problems = [...runA.problems, ...runB.problems];
  const onlyA = [...runA.files.keys()].filter((f) => !runB.files.has(f));
  const onlyB = [...runB.files.keys()].filter((f) => !runA.files.has(f));
  if (onlyA.length + onlyB.length > 0) {
    problems.push(
      `the runs ran different test files: only in A: ${onlyA.join(', ') || '-'}; only in B: ${onlyB.join(', ') || '-'}`,
    );
  }
  const resultDiff = differences(runA.tests, runB.tests);
  if (resultDiff.length > 0)
    problems.push(`per-test results differ between seeds ${first} and ${second}:\n  ${resultDiff.join('\n  ')}`);

  process.stdout.write(
    `\nseeds ${first} and ${second} (rerun: npm run test:isolation -- --seeds=${first},${second})\n`,
  );
  if (problems.length > 0) {
    process.stderr.write(`isolation check FAILED\n${problems.join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `isolation check passed: ${runA.files.size} files and ${runA.tests.size} tests passed in both orders; ` +
      'the database as migrated and Redis empty after each run\n',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`isolation check failed to run: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
