import { randomUUID } from 'node:crypto';
import type { Db } from '../../lib/db';
import { dropDatabase } from '../../scripts/local-stack';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';
import { countRows, givenProduct } from '../helpers/builders';
import { libLoadedBeforeTrap, secretAccesses } from '../helpers/env-spy';
import globalSetup from '../helpers/global-setup';
import { db, redis } from '../helpers/harness';
import { orderBody, postOrder, stripeAnswers } from '../helpers/orders';

/**
 * The suite's own guarantees. Written so that they hold whichever order --randomize picks:
 * whichever probe runs second would see what the first left behind.
 */
describe('test isolation', () => {
  const written: string[] = [];

  test.each(['first', 'second'])(
    'a reservation key written by an earlier test is gone when the %s probe begins',
    async (probe) => {
      for (const key of written) expect(await redis().exists(key)).toBe(0);
      expect(await redis().dbsize()).toBe(0);

      const key = `reservation:isolation-probe-${probe}`;
      await redis().hset(key, 'sku_probe', '1');
      written.push(key);
      expect(await redis().exists(key)).toBe(1);
    },
  );

  test.each(['first', 'second'])(
    'rows written by an earlier test are rolled back when the %s probe begins',
    async (probe) => {
      const { rows } = await db().query<{ n: string }>(
        `SELECT count(*) AS n FROM products WHERE id LIKE 'sku_probe_%'`,
      );
      expect(rows[0]?.n).toBe('0');

      await givenProduct({ id: `sku_probe_${probe}` });
      const after = await db().query<{ n: string }>(`SELECT count(*) AS n FROM products WHERE id LIKE 'sku_probe_%'`);
      expect(after.rows[0]?.n).toBe('1');
    },
  );

  test("tests use TEST_REDIS_URL's Redis DB, never DB 0", async () => {
    const index = redisDbIndex(testEnvironment().redisUrl);
    const info = await redis().client('INFO');

    expect(index).not.toBe(0);
    expect(String(info)).toContain(` db=${index} `);
  });

  async function globalSetupWith(variable: 'TEST_REDIS_URL' | 'TEST_DATABASE_URL', value: string): Promise<void> {
    const saved = process.env[variable];
    process.env[variable] = value;
    try {
      await globalSetup();
    } finally {
      if (saved === undefined) delete process.env[variable];
      else process.env[variable] = saved;
    }
  }

  test('the suite refuses to run against Redis DB 0', async () => {
    await expect(globalSetupWith('TEST_REDIS_URL', 'redis://127.0.0.1:6379/0')).rejects.toThrow(
      /refusing to run tests against Redis DB 0/,
    );
  });

  test('the suite refuses to drop a database whose name does not say it is for tests', async () => {
    // A name nobody uses: were the guard gone, global setup would drop and migrate this one.
    const url = Object.assign(new URL(testEnvironment().databaseUrl), {
      pathname: `/orders_probe_${randomUUID().slice(0, 8)}`,
    }).toString();
    try {
      await expect(globalSetupWith('TEST_DATABASE_URL', url)).rejects.toThrow(
        /refusing to drop and recreate database "orders_probe_/,
      );
    } finally {
      await dropDatabase(url);
    }
  });

  test('concurrent transactions in one test keep their own savepoints: one rolls back, the other commits', async () => {
    const kept = `sku_${randomUUID().slice(0, 8)}`;
    const dropped = `sku_${randomUUID().slice(0, 8)}`;
    const insert = (tx: Db, id: string) =>
      tx.query(`INSERT INTO products (id, name, price_cents, currency) VALUES ($1, 'x', 1, 'usd')`, [id]);

    const results = await Promise.allSettled([
      db().transaction(async (tx) => {
        await insert(tx, dropped);
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('payment failed');
      }),
      db().transaction(async (tx) => {
        await insert(tx, kept);
      }),
    ]);

    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    const { rows } = await db().query<{ id: string }>('SELECT id FROM products WHERE id = ANY($1::text[])', [
      [kept, dropped],
    ]);
    expect(rows.map((r) => r.id)).toEqual([kept]);
  });
});

describe('the mocked Stripe', () => {
  test('an order runs end to end without STRIPE_SECRET_KEY ever being touched', async () => {
    const product = await givenProduct({ stock: 2 });
    stripeAnswers('succeeded');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));

    expect(response.statusCode).toBe(201);
    expect(await countRows('orders')).toBe(1);
    expect(secretAccesses()).toEqual([]);
  });

  test('the STRIPE_SECRET_KEY trap was in place before any lib/ module was loaded', () => {
    expect(libLoadedBeforeTrap()).toEqual([]);
  });
  // That a test touching the key fails, for each kind of access: infra-secret-trap.test.ts.
});
