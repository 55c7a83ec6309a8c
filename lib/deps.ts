import type Stripe from 'stripe';
import { type Config, config } from './config';
import { createPoolDb, type Db } from './db';
import type { Logger } from './log';
import {
  type AppMetrics,
  loggerOver,
  metricsOver,
  powertoolsLogger,
  powertoolsMetrics,
  powertoolsTracer,
  tracedDb,
  tracedRedis,
} from './observability';
import type { Payments } from './payments/payments';
import type { RedisClient } from './redis';
import { createRedis } from './redis';

/** What every use case talks to. */
export interface CoreDeps {
  db: Db;
  redis: RedisClient;
  config: Config;
  log: Logger;
  /** CloudWatch metrics (Powertools, EMF); absent in tests that do not look at them. */
  metrics?: AppMetrics;
}

/** Everything a use case talks to. Handlers get it from `defaultDeps` (lib/default-deps.ts); tests pass their own. */
export interface Deps extends CoreDeps {
  payments: Payments;
  /** The SDK's webhook helpers: signature checks need the webhook secret, not the API key. */
  webhooks: StripeWebhooks;
}

export type StripeWebhooks = Pick<typeof Stripe.webhooks, 'constructEvent'>;

let core: CoreDeps | undefined;

const traced = <T>(wrap: (client: T) => T, client: T): T => (powertoolsTracer() ? wrap(client) : client);

/**
 * One pool and one Redis client per Lambda container, made on first use and reused by every
 * invocation it serves. No Stripe here: a function that never pays (get-order) does not bundle the SDK.
 */
export function coreDeps(): CoreDeps {
  if (!core) {
    const cfg = config();
    core = {
      config: cfg,
      // Wrapped in X-Ray subsegments only where tracing is on: no extra work per query otherwise.
      db: traced(
        tracedDb,
        createPoolDb(cfg.databaseUrl, cfg.dbPoolMax, { preparedStatements: cfg.dbPreparedStatements }),
      ),
      redis: traced(tracedRedis, createRedis(cfg.redisUrl)),
      log: loggerOver(powertoolsLogger()),
      metrics: metricsOver(powertoolsMetrics()),
    };
  }
  return core;
}
