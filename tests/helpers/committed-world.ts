import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { createOrderHandler } from '../../handlers/create-order';
import { createPoolDb, type PoolDb } from '../../lib/db';
import type { Deps } from '../../lib/deps';
import { loadStockMirror } from '../../lib/inventory/stock';
import type { LogFields, Logger } from '../../lib/log';
import { stripePayments } from '../../lib/payments/stripe-payments';
import { testEnvironment } from '../../scripts/test-environment';
import type { GivenProduct } from './builders';
import { apiGatewayEvent, invoke, type Response } from './events';
import { testConfig } from './harness';
import type { OrderBody } from './orders';
import { mockedStripe, mockedStripeModule } from './stripe-mock';

/**
 * For tests whose requests must really run at the same time. The per-test TransactionalTestDb runs a
 * test's queries in turns on one connection, so requests meant to race take turns instead. Here
 * each request goes to its own "container", built as a Lambda container is: its own pool of
 * PostgreSQL connections (lib/db createPoolDb) and its own Redis connection. The rows they read and
 * write are COMMITTED, so the world remembers what it created and `cleanup()` deletes it (and
 * every order placed on its products) for `npm run test:isolation`. Redis is the harness's test
 * DB, flushed before each test by the harness.
 */
export interface Container {
  /** 0, 1, 2, ...: which container served a request. */
  index: number;
  db: PoolDb;
  redis: Redis;
  deps: Deps;
  logs: LogFields[];
}

function memoryLogger(lines: LogFields[], base: LogFields = {}): Logger {
  const emit =
    (level: string) =>
    (message: string, fields: LogFields = {}) => {
      lines.push({ level, message, ...base, ...fields });
    };
  return { info: emit('info'), error: emit('error'), child: (fields) => memoryLogger(lines, { ...base, ...fields }) };
}

async function openRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  await redis.ping(); // connected: from here a command is written to the socket when it is called
  return redis;
}

export class CommittedWorld {
  private readonly productIds: string[] = [];
  private readonly idempotencyKeys: string[] = [];
  /** Unique per world, so keys and ids never meet rows a crashed earlier run left behind. */
  readonly runId = randomUUID().slice(0, 8);

  private constructor(
    /** For setting up, inspecting and cleaning up: not used by the requests under test. */
    readonly db: PoolDb,
    readonly redis: Redis,
    readonly containers: Container[],
  ) {}

  static async open(containerCount: number): Promise<CommittedWorld> {
    const { databaseUrl, redisUrl } = testEnvironment();
    const stripe = mockedStripe();
    const containers: Container[] = [];
    for (let index = 0; index < containerCount; index += 1) {
      const logs: LogFields[] = [];
      // Two connections, as production's DB_POOL_MAX default.
      const db = createPoolDb(databaseUrl, 2);
      const redis = await openRedis(redisUrl);
      const deps: Deps = {
        db,
        redis,
        webhooks: mockedStripeModule().webhooks,
        payments: stripePayments(() => stripe),
        config: testConfig,
        log: memoryLogger(logs),
      };
      containers.push({ index, db, redis, deps, logs });
    }
    return new CommittedWorld(createPoolDb(databaseUrl, 2), await openRedis(redisUrl), containers);
  }

  /** A product with `stock` units on hand, committed. Its stock mirror is not loaded. */
  async givenProduct(o: { stock: number; priceCents?: number }): Promise<GivenProduct> {
    const product = {
      id: `sku_${this.runId}_${randomUUID().slice(0, 8)}`,
      priceCents: o.priceCents ?? 1999,
      currency: 'usd',
    };
    this.productIds.push(product.id);
    await this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $2, $3, $4)', [
        product.id,
        `Product ${product.id}`,
        product.priceCents,
        product.currency,
      ]);
      await tx.query('INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)', [product.id, o.stock]);
    });
    return product;
  }

  /** Loads the product's stock mirror (stock:{p}) the way the service does when it finds it missing. */
  loadStockMirror(productId: string): Promise<void> {
    return loadStockMirror(this.db, this.redis, [productId]);
  }

  async inventoryOf(productId: string): Promise<number> {
    const { rows } = await this.db.query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1', [
      productId,
    ]);
    return rows[0]?.quantity ?? NaN;
  }

  /** A unique idempotency key; every order placed under it is deleted by cleanup(). */
  idempotencyKey(label: string): string {
    const key = `committed-${this.runId}-${label}`;
    this.idempotencyKeys.push(key);
    return key;
  }

  /** POST /orders through the real handler, served by `container`. */
  postOrder(container: Container, body: OrderBody, idempotencyKey: string): Promise<Response> {
    if (!this.idempotencyKeys.includes(idempotencyKey)) this.idempotencyKeys.push(idempotencyKey);
    return invoke(
      createOrderHandler(() => container.deps),
      apiGatewayEvent({ method: 'POST', path: '/orders', headers: { 'idempotency-key': idempotencyKey }, body }),
    );
  }

  /** Deletes every row this world committed: its products and every order (and refund) on them or under its keys. */
  async cleanup(): Promise<void> {
    const productIds = this.productIds.splice(0);
    const idempotencyKeys = this.idempotencyKeys.splice(0);
    if (productIds.length === 0 && idempotencyKeys.length === 0) return;
    await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `SELECT order_id AS id FROM order_items WHERE product_id = ANY($1::text[])
         UNION SELECT id FROM orders WHERE idempotency_key = ANY($2::text[])`,
        [productIds, idempotencyKeys],
      );
      const orderIds = rows.map((r) => r.id);
      // order_events is append-only (a trigger refuses deletes): a test's cleanup, run as the
      // superuser, switches triggers off for its own transaction only.
      await tx.query('SET LOCAL session_replication_role = replica');
      for (const table of ['order_events', 'outbox', 'disputes'])
        await tx.query(`DELETE FROM ${table} WHERE order_id = ANY($1::uuid[])`, [orderIds]);
      await tx.query(
        `DELETE FROM refund_items WHERE product_id = ANY($1::text[])
            OR refund_id IN (SELECT id FROM refunds WHERE order_id = ANY($2::uuid[]))`,
        [productIds, orderIds],
      );
      await tx.query('DELETE FROM refunds WHERE order_id = ANY($1::uuid[])', [orderIds]);
      await tx.query('DELETE FROM order_items WHERE order_id = ANY($1::uuid[]) OR product_id = ANY($2::text[])', [
        orderIds,
        productIds,
      ]);
      await tx.query('DELETE FROM orders WHERE id = ANY($1::uuid[])', [orderIds]);
      await tx.query('DELETE FROM stock_adjustments WHERE product_id = ANY($1::text[])', [productIds]);
      await tx.query('DELETE FROM inventory WHERE product_id = ANY($1::text[])', [productIds]);
      await tx.query('DELETE FROM products WHERE id = ANY($1::text[])', [productIds]);
    });
  }

  async close(): Promise<void> {
    await this.cleanup();
    for (const c of this.containers) {
      await c.db.end();
      c.redis.disconnect();
    }
    await this.db.end();
    this.redis.disconnect();
  }
}
