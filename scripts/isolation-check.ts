/**
 * `npm run test:isolation`: runs the whole suite twice, in two different random orders, and fails
 * unless (1) every test has the same result in both runs and (2) the test database holds exactly
 * what it held before. A test that leans on another test's leftovers, or leaves some, shows up here.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { testEnvironment } from '../lib/config';
import { ensureDatabase } from './local-stack';
import { ensureTestServices } from '../tests/helpers/test-services';

interface JestJson {
  success: boolean;
  numTotalTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[];
}

async function snapshot(): Promise<Map<string, string>> {
  const client = new Client({ connectionString: testEnvironment().databaseUrl });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      `SELECT quote_ident(table_name) AS name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    const digests = new Map<string, string>();
    for (const { name } of tables) {
      const { rows } = await client.query<{ n: string; digest: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest FROM ${name} t`,
      );
      digests.set(name, `${rows[0]?.n} rows, md5 ${rows[0]?.digest ?? '-'}`);
    }
    return digests;
  } finally {
    await client.end();
  }
}

function runSuite(seed: number, dir: string): Map<string, string> {
  const outputFile = join(dir, `run-${seed}.json`);
  process.stdout.write(`\n== jest --randomize --seed=${seed}\n`);
  spawnSync('npx', ['jest', '--runInBand', '--randomize', `--seed=${seed}`, '--json', `--outputFile=${outputFile}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const report = JSON.parse(readFileSync(outputFile, 'utf8')) as JestJson;
  const results = new Map<string, string>();
  for (const file of report.testResults) {
    for (const test of file.assertionResults) results.set(`${file.name.replace(process.cwd(), '.')} > ${test.fullName}`, test.status);
  }
  process.stdout.write(`   ${results.size} tests, ${[...results.values()].filter((s) => s === 'passed').length} passed\n`);
  return results;
}

function differences<K, V>(a: Map<K, V>, b: Map<K, V>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).map((k) => `${String(k)}: ${String(a.get(k))} -> ${String(b.get(k))}`);
}

async function main(): Promise<void> {
  // Started once here (if needed) and handed to both runs through the environment.
  const stopServices = await ensureTestServices();
  try {
    await check();
  } finally {
    await stopServices();
  }
}

async function check(): Promise<void> {
  await ensureDatabase(testEnvironment().databaseUrl);
  const migrate = spawnSync('npm', ['run', '--silent', 'db:migrate'], {
    env: { ...process.env, DATABASE_URL: testEnvironment().databaseUrl },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (migrate.status !== 0) throw new Error('migrating the test database failed');
  const before = await snapshot();
  const dir = mkdtempSync(join(tmpdir(), 'isolation-'));
  const first = 1 + Math.floor(Math.random() * 1_000_000);
  const second = first + 1 + Math.floor(Math.random() * 1_000_000);
  const runA = runSuite(first, dir);
  const runB = runSuite(second, dir);
  const after = await snapshot();

  const problems: string[] = [];
  const resultDiff = differences(runA, runB);
  if (resultDiff.length > 0) problems.push(`per-test results differ between seeds ${first} and ${second}:\n  ${resultDiff.join('\n  ')}`);
  const notPassed = [...runA].filter(([, s]) => s !== 'passed').map(([name, s]) => `${name}: ${s}`);
  if (notPassed.length > 0) problems.push(`tests that did not pass:\n  ${notPassed.join('\n  ')}`);
  if (runA.size === 0) problems.push('no test ran');
  const tableDiff = differences(before, after);
  if (tableDiff.length > 0) problems.push(`the test database changed:\n  ${tableDiff.join('\n  ')}`);

  process.stdout.write(`\nseeds ${first} and ${second}: ${runA.size} tests each; tables checked: ${[...before.keys()].join(', ')}\n`);
  if (problems.length > 0) {
    process.stderr.write(`isolation check FAILED\n${problems.join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write('isolation check passed: identical results in both orders, database unchanged\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`isolation check failed to run: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
