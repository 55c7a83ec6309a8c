import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { redisDbIndex, testEnvironment } from '../../lib/config';

/** Once per run: refuse Redis DB 0, create the test database if needed, migrate it. */
export default async function globalSetup(): Promise<void> {
  const { databaseUrl, redisUrl } = testEnvironment();
  if (redisDbIndex(redisUrl) === 0) {
    throw new Error(`refusing to run tests against Redis DB 0 (${redisUrl}): set TEST_REDIS_URL to a dedicated DB such as redis://127.0.0.1:6379/15`);
  }
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1);
  const admin = new Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  execFileSync('npm', ['run', '--silent', 'db:migrate'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
