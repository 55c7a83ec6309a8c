import Redis from 'ioredis';
import { Client } from 'pg';
import type Stripe from 'stripe';
import { type Config, readConfig } from '../../lib/config';
import type { Deps } from '../../lib/deps';
import type { LogFields, Logger } from '../../lib/log';
import { stripePayments } from '../../lib/payments/stripe-payments';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';
import { mockedStripe, mockedStripeModule } from './stripe-mock';
import { TransactionalTestDb } from './transactional-db';

/**
 * The per-test world: one PostgreSQL connection inside a transaction rolled back after each test,
 * Redis DB 15 flushed before each test, the mocked Stripe. Handlers under test get it through the
 * same door production uses (Deps).
 */
interface World {
  client: Client;
  redis: Redis;
  db: TransactionalTestDb;
  stripe: Stripe;
  logs: LogFields[];
}

let world: World | undefined;

function current(): World {
  if (!world) throw new Error('the test harness is not set up (tests/helpers/setup.ts)');
  return world;
}

export const testConfig: Config = {
  ...readConfig({}),
  reservationTtlSeconds: 900,
  idempotencyTtlSeconds: 86_400,
};

function memoryLogger(lines: LogFields[], base: LogFields = {}): Logger {
  const emit =
    (level: string) =>
    (message: string, fields: LogFields = {}) => {
      lines.push({ level, message, ...base, ...fields });
    };
  return { info: emit('info'), error: emit('error'), child: (fields) => memoryLogger(lines, { ...base, ...fields }) };
}

export async function openWorld(): Promise<void> {
  const { databaseUrl, redisUrl } = testEnvironment();
  if (redisDbIndex(redisUrl) === 0) throw new Error('refusing to run tests against Redis DB 0');
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  world = { client, redis, db: new TransactionalTestDb(client), stripe: mockedStripe(), logs: [] };
}

export async function beginTest(): Promise<void> {
  const w = current();
  await w.client.query('BEGIN');
  await w.redis.flushdb();
  w.db = new TransactionalTestDb(w.client);
  w.logs = [];
}

export async function endTest(): Promise<void> {
  await current().client.query('ROLLBACK');
}

export async function closeWorld(): Promise<void> {
  if (!world) return;
  await world.client.end();
  world.redis.disconnect();
  world = undefined;
}

/** The deps handlers run with in this test; `overrides` e.g. a short reservation TTL. */
export function testDeps(overrides: { config?: Partial<Config> } = {}): Deps {
  const w = current();
  return {
    db: w.db,
    redis: w.redis,
    webhooks: mockedStripeModule().webhooks,
    payments: stripePayments(() => w.stripe),
    config: { ...testConfig, ...overrides.config },
    log: memoryLogger(w.logs),
  };
}

export const db = () => current().db;
export const redis = () => current().redis;
export const logs = () => current().logs;
