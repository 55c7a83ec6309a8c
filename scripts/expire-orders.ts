/**
 * `npm run expire-orders`: one run of the scheduled function (lib/orders/expire-orders.ts) against
 * DATABASE_URL, REDIS_URL and Stripe (STRIPE_SECRET_KEY, STRIPE_API_BASE), as on AWS every minute.
 * `npm run dev` runs it every 30 s. Prints the run's summary as one JSON line.
 */
import type Stripe from 'stripe';
import { config } from '../lib/config';
import { createPoolDb } from '../lib/db';
import { loggerOver, powertoolsLogger } from '../lib/observability';
import { expireOrders } from '../lib/orders/expire-orders';
import { createStripeClient } from '../lib/payments/stripe-client';
import { stripePayments } from '../lib/payments/stripe-payments';
import { createRedis } from '../lib/redis';

async function main(): Promise<void> {
  const cfg = config();
  const db = createPoolDb(cfg.databaseUrl, 1, { preparedStatements: cfg.dbPreparedStatements });
  const redis = createRedis(cfg.redisUrl);
  let stripe: Stripe | undefined;
  const log = loggerOver(powertoolsLogger()).child({ job: 'expire-orders' });
  try {
    const summary = await expireOrders({
      db,
      redis,
      config: cfg,
      log,
      payments: stripePayments(() => (stripe ??= createStripeClient(cfg))),
    });
    log.info('expire orders', { ...summary });
  } finally {
    await db.end();
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`expire-orders failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
