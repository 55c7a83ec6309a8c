/**
 * What the bench runs against: its own database on the test PostgreSQL server, a redis-server of
 * its own, the Stripe double in another process, the schema migrated and the products stocked,
 * every stock mirror already in Redis. `stop` removes all of it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { createPoolDb } from '../../lib/db';
import { loadStockMirror } from '../../lib/inventory/stock';
import { dropDatabase, ensureDatabase, freePort, ROOT, redisAnswers, run, stopChild, waitUntil } from '../local-stack';
import { testEnvironment } from '../test-environment';
import type { CpuScope } from './cpu';

const SPREAD_PRODUCTS = 1_000;
/** Enough that no run sells out: stock is never what limits a row. */
const STOCK = 1_000_000_000;

export interface BenchStack {
  databaseUrl: string;
  database: string;
  redisUrl: string;
  stripeUrl: string;
  pgPort: number;
  redisPort: number;
  /** The service's environment (what serverless.yml gives a function), pointed at all of the above. */
  env: NodeJS.ProcessEnv;
  /** The processes whose CPU is accounted for. */
  cpuScope: CpuScope;
  /** Requests the Stripe double has answered so far (its own GET /_double/stats not counted). */
  stripeRequests(): Promise<number>;
  /** 1,000 products, each as likely, and one product every order wants. */
  catalogues: { name: string; products: string[] }[];
  /** A connection for the bench's own queries. */
  db: Client;
  stop(): Promise<void>;
}

export async function startBenchStack(database: string): Promise<BenchStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const databaseUrl = Object.assign(new URL(testEnvironment().databaseUrl), { pathname: `/${database}` }).toString();
    await dropDatabase(databaseUrl).catch(() => undefined);
    await ensureDatabase(databaseUrl);
    stops.push(() => dropDatabase(databaseUrl));

    const redisPort = await freePort();
    const redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    stops.push(() => stopChild(redis));
    const redisUrl = `redis://127.0.0.1:${redisPort}/0`;
    await waitUntil(() => redisAnswers(redisUrl), 10_000, 'redis-server did not start');

    const stripePort = await freePort();
    const double: ChildProcess = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'scripts', 'stripe-double.ts'), String(stripePort)],
      { cwd: ROOT, stdio: 'ignore', env: { ...process.env, STRIPE_DOUBLE_WEBHOOK_URL: '' } },
    );
    stops.push(() => stopChild(double));
    const stripeUrl = `http://127.0.0.1:${stripePort}`;
    const doubleAnswers = () =>
      fetch(`${stripeUrl}/_double/stats`).then(
        () => true,
        () => false,
      );
    await waitUntil(doubleAnswers, 20_000, 'the Stripe double did not start');
    let statsAsked = 0;
    /** What the double answered, less this bench's own stats requests (deltas are what count). */
    const stripeRequests = async () => {
      statsAsked += 1;
      const stats = (await (await fetch(`${stripeUrl}/_double/stats`)).json()) as { requests: number };
      return stats.requests - statsAsked;
    };

    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      STRIPE_SECRET_KEY: 'sk_test_bench',
      STRIPE_API_BASE: stripeUrl,
      STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    };
    await run('npm', ['run', '--silent', 'db:migrate'], env, true);

    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    stops.push(() => db.end());
    const spread = Array.from({ length: SPREAD_PRODUCTS }, (_, i) => `sku_bench_${String(i).padStart(4, '0')}`);
    const hot = ['sku_bench_hot'];
    const all = [...spread, ...hot];
    await db.query(
      `INSERT INTO products (id, name, price_cents, currency) SELECT id, id, 1000, 'usd' FROM unnest($1::text[]) AS id`,
      [all],
    );
    await db.query(`INSERT INTO inventory (product_id, quantity) SELECT id, $2 FROM unnest($1::text[]) AS id`, [
      all,
      STOCK,
    ]);
    // Every run starts with every stock mirror in Redis (the service would load a missing one itself).
    const mirrorDb = createPoolDb(databaseUrl, 1);
    const mirrorRedis = new Redis(redisUrl);
    await loadStockMirror(mirrorDb, mirrorRedis, all);
    await mirrorDb.end();
    mirrorRedis.disconnect();

    return {
      databaseUrl,
      database,
      redisUrl,
      stripeUrl,
      pgPort: Number(new URL(databaseUrl).port || 5432),
      redisPort,
      env,
      cpuScope: { redisPid: redis.pid ?? -1, doublePid: double.pid ?? -1, database },
      stripeRequests,
      catalogues: [
        { name: '1,000 products', products: spread },
        { name: 'one hot product', products: hot },
      ],
      db,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
