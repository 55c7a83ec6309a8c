import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { dropDatabase, ensureDatabase, freePort, type Offline, run, startOffline } from '../../scripts/local-stack';
import { type StripeDouble, startStripeDouble } from '../../scripts/stripe-double';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';
import { ensureTestServices } from '../helpers/test-services';

/**
 * A scratch service for one e2e run: its own database on the test server, its own Redis DB (14 by
 * default), the Stripe double and serverless offline on free ports. `stop` removes all of it.
 */
export interface Stack {
  url: string;
  double: StripeDouble;
  db: Client;
  redis: Redis;
  /** The service's environment (for running its scripts, e.g. `npm run expire-orders`, against this stack). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

const WEBHOOK_SECRET = 'whsec_e2e_0123456789abcdef';

export async function startStack(): Promise<Stack> {
  const stopServices = await ensureTestServices();
  const serverUrl = new URL(testEnvironment().databaseUrl);
  const databaseUrl = Object.assign(new URL(serverUrl), {
    pathname: `/orders_e2e_${randomUUID().slice(0, 8)}`,
  }).toString();
  // A DB of its own on the test Redis: 14 unless told otherwise.
  const redisUrl = process.env.TEST_E2E_REDIS_URL || testEnvironment().redisUrl.replace(/\/\d+$/, '/14');
  if (redisDbIndex(redisUrl) === 0) throw new Error('refusing to run the e2e suite against Redis DB 0');

  const stops: (() => Promise<void>)[] = [stopServices];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    await ensureDatabase(databaseUrl);
    stops.push(() => dropDatabase(databaseUrl));
    const redis = new Redis(redisUrl);
    await redis.flushdb();
    stops.push(async () => {
      await redis.flushdb();
      redis.disconnect();
    });
    const port = await freePort();
    const double = await startStripeDouble({
      webhookUrl: `http://127.0.0.1:${port}/webhooks/stripe`,
      webhookSecret: WEBHOOK_SECRET,
      deliveryDelayMs: 20,
    });
    stops.push(double.close);
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      STRIPE_SECRET_KEY: 'sk_test_e2e_stripe_double',
      STRIPE_API_BASE: double.url,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    };
    await run('npm', ['run', '--silent', 'db:migrate'], env, true);
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    stops.push(() => db.end());
    const offline: Offline = await startOffline(env, port, { quiet: true });
    stops.push(offline.stop);
    return { url: offline.url, double, db, redis, env, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
