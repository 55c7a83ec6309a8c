import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dropDatabase, ensureDatabase, ROOT } from '../../scripts/local-stack';

/**
 * The suite tests exactly the SQL in db/migrations/: node-pg-migrate skips a migration it has
 * already recorded, so an edited migration would never reach a database migrated by an earlier
 * run. Every run therefore drops the test database and migrates a new one from zero (about a
 * second: the migrations create empty tables and functions).
 */

/** Dropping is only for a database that exists for the tests: its name must say so. */
export function assertTestDatabase(url: string): void {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/test/i.test(name)) {
    throw new Error(
      `refusing to drop and recreate database "${name}" (${new URL(url).host}): ` +
        'TEST_DATABASE_URL must name a database only the tests use, with "test" in its name, e.g. orders_test',
    );
  }
}

/**
 * `npm run db:migrate`'s own command line (package.json), run without npm in between (npm adds
 * about half a second). Anything but a plain `node-pg-migrate <args>` goes through npm.
 */
function migrateCommand(): { file: string; args: string[] } {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [tool, ...args] = (pkg.scripts['db:migrate'] ?? '').trim().split(/\s+/);
  if (tool === 'node-pg-migrate' && args.every((arg) => /^[\w./=:-]+$/.test(arg))) {
    return { file: join(ROOT, 'node_modules', '.bin', 'node-pg-migrate'), args };
  }
  return { file: 'npm', args: ['run', '--silent', 'db:migrate'] };
}

export async function recreateAndMigrate(url: string): Promise<void> {
  assertTestDatabase(url);
  await dropDatabase(url); // WITH (FORCE): a crashed earlier run's connections go with it
  await ensureDatabase(url);
  const { file, args } = migrateCommand();
  try {
    await promisify(execFile)(file, args, { cwd: ROOT, env: { ...process.env, DATABASE_URL: url } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `migrating the test database from zero failed (${file} ${args.join(' ')}):\n${stdout ?? ''}${stderr ?? ''}`,
    );
  }
}
