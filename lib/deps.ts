import Stripe from 'stripe';
import type { Redis } from 'ioredis';
import { config, type Config } from './config';
import { createPoolDb, type Db } from './db';
import { jsonLogger, type Logger } from './log';
import { createRedis } from './redis';
import type { Payments } from './payments/payments';
import { createStripeClient } from './payments/stripe-client';
import { stripePayments } from './payments/stripe-payments';

/** Everything a use case talks to. Handlers get it from `defaultDeps`; tests pass their own. */
export interface Deps {
  db: Db;
  redis: Redis;
  payments: Payments;
  /** The SDK's webhook helpers: signature checks need the webhook secret, not the API key. */
  webhooks: StripeWebhooks;
  config: Config;
  log: Logger;
}

export type StripeWebhooks = Pick<typeof Stripe.webhooks, 'constructEvent'>;

let deps: Deps | undefined;
let stripeClient: Stripe | undefined;

/**
 * One pool, one Redis client and one Stripe client per Lambda container, made on first use and
 * reused by every invocation the container serves.
 */
export function defaultDeps(): Deps {
  if (!deps) {
    const cfg = config();
    const stripe = () => (stripeClient ??= createStripeClient(cfg));
    deps = {
      config: cfg,
      db: createPoolDb(cfg.databaseUrl, cfg.dbPoolMax),
      redis: createRedis(cfg.redisUrl),
      webhooks: Stripe.webhooks,
      payments: stripePayments(stripe),
      log: jsonLogger(),
    };
  }
  return deps;
}
