import { randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { adjustStockHandler } from '../../handlers/adjust-stock';
import { getStockHandler } from '../../handlers/get-stock';
import type { Db } from '../../lib/db';
import type { CoreDeps } from '../../lib/deps';
import { commands } from '../../lib/inventory/scripts';
import { setStockTo } from '../../lib/inventory/stock-adjustments';
import { keys } from '../../lib/keys';
import { givenProduct, heldOf, inventoryOf, mirrorOf } from '../helpers/builders';
import { CommittedWorld } from '../helpers/committed-world';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { db, redis, testDeps } from '../helpers/harness';
import {
  expectSellableExactly,
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  stripeAnswers,
  stripeRefunds,
} from '../helpers/orders';
import { mockPaymentIntentsCreate } from '../helpers/stripe-mock';

type StockDeps = Pick<CoreDeps, 'db' | 'redis' | 'config' | 'log'>;

/** GET /products/{productId}/stock through the real handler. */
function getStock(productId: string, deps: () => StockDeps = testDeps): Promise<Response> {
  return invoke(
    getStockHandler(deps),
    apiGatewayEvent({
      method: 'GET',
      path: `/products/${productId}/stock`,
      routeKey: 'GET /products/{productId}/stock',
      pathParameters: { productId },
    }),
  );
}

/** POST /products/{productId}/stock/adjustments through the real handler. */
function postAdjustment(
  productId: string,
  body: unknown,
  o: { idempotencyKey?: string; rawBody?: string; deps?: () => StockDeps } = {},
): Promise<Response> {
  return invoke(
    adjustStockHandler(o.deps ?? testDeps),
    apiGatewayEvent({
      method: 'POST',
      path: `/products/${productId}/stock/adjustments`,
      routeKey: 'POST /products/{productId}/stock/adjustments',
      pathParameters: { productId },
      headers: o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
      body,
      rawBody: o.rawBody,
    }),
  );
}

async function adjustmentRows(productId: string, on: Pick<Db, 'query'> = db()) {
  const { rows } = await on.query<Record<string, unknown>>(
    `SELECT product_id, delta, reason, idempotency_key, quantity_after FROM stock_adjustments
      WHERE product_id = $1 ORDER BY created_at, id`,
    [productId],
  );
  return rows;
}

/** Loads the stock mirror the way the service does (GET stock reads through it). */
async function loadMirror(productId: string): Promise<void> {
  expect((await getStock(productId)).statusCode).toBe(200);
  expect(await mirrorOf(productId)).toBe(await inventoryOf(productId));
}

const anAdjustment = (delta: number, reason: string) => ({
  id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
  delta,
  reason,
  createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
});

describe('GET /products/{productId}/stock', () => {
  test('on hand from PostgreSQL; held and available from the live holds', async () => {
    // Prepare
    const product = await givenProduct({ stock: 10 });
    await givenPendingOrder([{ productId: product.id, quantity: 3 }]);

    // Act
    const withHold = await getStock(product.id);
    await givenPaidOrder([{ productId: product.id, quantity: 2 }]);
    const afterSale = await getStock(product.id);

    // Assess
    expect(withHold.statusCode).toBe(200);
    expect(withHold.body).toEqual({ productId: product.id, quantity: 10, held: 3, available: 7 });
    expect(afterSale.body).toEqual({ productId: product.id, quantity: 8, held: 3, available: 5 });
  });

  test('a mirror that is not loaded is loaded from PostgreSQL', async () => {
    const product = await givenProduct({ stock: 4 });
    expect(await mirrorOf(product.id)).toBeNull();

    const response = await getStock(product.id);

    expect(response.body).toEqual({ productId: product.id, quantity: 4, held: 0, available: 4 });
    expect(await mirrorOf(product.id)).toBe(4);
  });

  test('a product with no inventory row has none on hand', async () => {
    const id = `sku_${randomUUID().slice(0, 8)}`;
    await db().query(`INSERT INTO products (id, name, price_cents, currency) VALUES ($1, 'No stock row', 100, 'usd')`, [
      id,
    ]);

    expect((await getStock(id)).body).toEqual({ productId: id, quantity: 0, held: 0, available: 0 });
  });

  test.each(['sku_nobody_has', 'a b', 'x'.repeat(256)])('unknown product %s: 404 product_not_found', async (id) => {
    const response = await getStock(id);

    expect(response.statusCode).toBe(404);
    expect(response.body.error).toMatchObject({ code: 'product_not_found', productId: id });
    expect(await redis().keys('*')).toEqual([]);
  });
});

describe('POST /products/{productId}/stock/adjustments', () => {
  test('up: stock and its mirror rise by the delta, live holds stay, the adjustment is kept', async () => {
    // Prepare
    const product = await givenProduct({ stock: 10 });
    await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    expect(await mirrorOf(product.id)).toBe(10);

    // Act
    const response = await postAdjustment(product.id, { delta: 5, reason: 'restock from supplier' });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.body).toEqual({
      productId: product.id,
      quantity: 15,
      held: 2,
      available: 13,
      adjustment: anAdjustment(5, 'restock from supplier'),
    });
    expect(await inventoryOf(product.id)).toBe(15);
    expect(await mirrorOf(product.id)).toBe(15);
    expect(await heldOf(product.id)).toBe(2);
    expect(await adjustmentRows(product.id)).toEqual([
      { product_id: product.id, delta: 5, reason: 'restock from supplier', idempotency_key: null, quantity_after: 15 },
    ]);
    const { rows } = await db().query('SELECT id, created_at FROM stock_adjustments WHERE product_id = $1', [
      product.id,
    ]);
    expect(response.body.adjustment).toMatchObject({ id: rows[0]!.id, createdAt: rows[0]!.created_at.toISOString() });
    await expectSellableExactly(product.id, 13);
  });

  test('down: stock and its mirror fall by the delta; each adjustment records the quantity it left', async () => {
    const product = await givenProduct({ stock: 10 });
    await loadMirror(product.id);

    const first = await postAdjustment(product.id, { delta: -4, reason: 'damaged in the warehouse' });
    const second = await postAdjustment(product.id, { delta: -1, reason: 'sample for a photo shoot' });

    expect(first.statusCode).toBe(201);
    expect(first.body).toMatchObject({ quantity: 6, held: 0, available: 6 });
    expect(second.body).toEqual({
      productId: product.id,
      quantity: 5,
      held: 0,
      available: 5,
      adjustment: anAdjustment(-1, 'sample for a photo shoot'),
    });
    expect(await inventoryOf(product.id)).toBe(5);
    expect(await mirrorOf(product.id)).toBe(5);
    expect(await adjustmentRows(product.id)).toEqual([
      {
        product_id: product.id,
        delta: -4,
        reason: 'damaged in the warehouse',
        idempotency_key: null,
        quantity_after: 6,
      },
      {
        product_id: product.id,
        delta: -1,
        reason: 'sample for a photo shoot',
        idempotency_key: null,
        quantity_after: 5,
      },
    ]);
    await expectSellableExactly(product.id, 5);
  });

  test('a mirror that was not loaded is not invented: it is loaded from PostgreSQL after the commit', async () => {
    const product = await givenProduct({ stock: 10 });

    const response = await postAdjustment(product.id, { delta: 7, reason: 'found in the back room' });

    expect(response.body).toMatchObject({ quantity: 17, held: 0, available: 17 });
    expect(await mirrorOf(product.id)).toBe(17);
  });

  test('a product with no inventory row gets one', async () => {
    const id = `sku_${randomUUID().slice(0, 8)}`;
    await db().query(`INSERT INTO products (id, name, price_cents, currency) VALUES ($1, 'First stock', 100, 'usd')`, [
      id,
    ]);

    const response = await postAdjustment(id, { delta: 3, reason: 'first delivery' });

    expect(response.statusCode).toBe(201);
    expect(response.body).toMatchObject({ productId: id, quantity: 3, available: 3 });
    expect(await inventoryOf(id)).toBe(3);
  });

  test('below zero: 409 stock_below_zero, nothing written, the mirror and the holds untouched; down to exactly 0 is allowed', async () => {
    // Prepare
    const product = await givenProduct({ stock: 3 });
    await givenPendingOrder([{ productId: product.id, quantity: 1 }]);

    // Act
    const refused = await postAdjustment(product.id, { delta: -4, reason: 'stocktake' });

    // Assess
    expect(refused.statusCode).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'stock_below_zero',
      productId: product.id,
      quantity: 3,
      delta: -4,
    });
    expect(await inventoryOf(product.id)).toBe(3);
    expect(await adjustmentRows(product.id)).toEqual([]);
    expect(await mirrorOf(product.id)).toBe(3);
    expect(await heldOf(product.id)).toBe(1);

    const toZero = await postAdjustment(product.id, { delta: -3, reason: 'stocktake' });
    expect(toZero.statusCode).toBe(201);
    expect(toZero.body).toMatchObject({ quantity: 0, held: 1, available: 0 });
    expect(await mirrorOf(product.id)).toBe(0);
  });

  test('below what is held: allowed; the holds stay, nothing more can be held', async () => {
    const product = await givenProduct({ stock: 5 });
    await givenPendingOrder([{ productId: product.id, quantity: 4 }]);

    const response = await postAdjustment(product.id, { delta: -3, reason: 'water damage' });

    expect(response.statusCode).toBe(201);
    expect(response.body).toMatchObject({ quantity: 2, held: 4, available: 0 });
    expect(await mirrorOf(product.id)).toBe(2);
    stripeAnswers('succeeded');
    const refused = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));
    expect(refused.statusCode).toBe(409);
    expect(refused.body.error.code).toBe('insufficient_inventory');
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  });

  test('unknown product: 404 product_not_found, nothing written', async () => {
    const response = await postAdjustment('sku_nobody_has', { delta: 5, reason: 'restock' });

    expect(response.statusCode).toBe(404);
    expect(response.body.error).toMatchObject({ code: 'product_not_found', productId: 'sku_nobody_has' });
    const { rows } = await db().query(`SELECT 1 FROM inventory WHERE product_id = 'sku_nobody_has'`);
    expect(rows).toEqual([]);
    expect(await redis().keys('*')).toEqual([]);
  });

  test('|delta| up to 1,000,000 is accepted', async () => {
    const product = await givenProduct({ stock: 1_000_000 });

    expect((await postAdjustment(product.id, { delta: 1_000_000, reason: 'r' })).body.quantity).toBe(2_000_000);
    expect((await postAdjustment(product.id, { delta: -1_000_000, reason: 'r' })).body.quantity).toBe(1_000_000);
  });

  describe('bad input: 400 invalid_request naming the field, nothing written', () => {
    test.each([
      ['delta', { delta: 0, reason: 'r' }],
      ['delta', { delta: 1.5, reason: 'r' }],
      ['delta', { delta: 1_000_001, reason: 'r' }],
      ['delta', { delta: -1_000_001, reason: 'r' }],
      ['delta', { delta: '5', reason: 'r' }],
      ['delta', { reason: 'r' }],
      ['reason', { delta: 5 }],
      ['reason', { delta: 5, reason: '' }],
      ['reason', { delta: 5, reason: '   ' }],
      ['reason', { delta: 5, reason: 'x'.repeat(201) }],
      ['reason', { delta: 5, reason: 7 }],
      ['body', { delta: 5, reason: 'r', note: 'extra' }],
      ['body', [5]],
    ])('%s: %j', async (field, body) => {
      const product = await givenProduct({ stock: 10 });

      const response = await postAdjustment(product.id, body);

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field });
      expect(await inventoryOf(product.id)).toBe(10);
      expect(await adjustmentRows(product.id)).toEqual([]);
    });

    test('malformed JSON, and a bad Idempotency-Key', async () => {
      const product = await givenProduct({ stock: 10 });

      const malformed = await postAdjustment(product.id, undefined, { rawBody: '{"delta": 5,' });
      const badKey = await postAdjustment(product.id, { delta: 5, reason: 'r' }, { idempotencyKey: 'has space' });

      expect(malformed.statusCode).toBe(400);
      expect(malformed.body.error).toMatchObject({ code: 'invalid_request', field: 'body' });
      expect(badKey.statusCode).toBe(400);
      expect(badKey.body.error).toMatchObject({ code: 'invalid_request', field: 'Idempotency-Key' });
      expect(await adjustmentRows(product.id)).toEqual([]);
    });
  });

  describe('Idempotency-Key', () => {
    test('the same request again: the first answer, replayed; stock and mirror moved once', async () => {
      const product = await givenProduct({ stock: 10 });
      await loadMirror(product.id);

      const first = await postAdjustment(product.id, { delta: 5, reason: 'restock' }, { idempotencyKey: 'adj-1' });
      const again = await postAdjustment(product.id, { delta: 5, reason: 'restock' }, { idempotencyKey: 'adj-1' });

      expect(first.statusCode).toBe(201);
      expect(first.headers['Idempotent-Replayed']).toBeUndefined();
      expect(again.statusCode).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['Idempotent-Replayed']).toBe('true');
      expect(await inventoryOf(product.id)).toBe(15);
      expect(await mirrorOf(product.id)).toBe(15);
      expect(await adjustmentRows(product.id)).toEqual([
        {
          product_id: product.id,
          delta: 5,
          reason: 'restock',
          idempotency_key: `${product.id}:adj-1`,
          quantity_after: 15,
        },
      ]);
    });

    test('the same key with another body: 422 idempotency_key_mismatch, nothing changes', async () => {
      const product = await givenProduct({ stock: 10 });
      await loadMirror(product.id);
      await postAdjustment(product.id, { delta: 5, reason: 'restock' }, { idempotencyKey: 'adj-1' });

      const other = await postAdjustment(product.id, { delta: 6, reason: 'restock' }, { idempotencyKey: 'adj-1' });

      expect(other.statusCode).toBe(422);
      expect(other.body.error.code).toBe('idempotency_key_mismatch');
      expect(await inventoryOf(product.id)).toBe(15);
      expect(await mirrorOf(product.id)).toBe(15);
      expect(await adjustmentRows(product.id)).toHaveLength(1);
    });

    test('Redis lost the answer: PostgreSQL still knows the key (replay, or 422 for another body)', async () => {
      const product = await givenProduct({ stock: 10 });
      await loadMirror(product.id);
      const first = await postAdjustment(product.id, { delta: -2, reason: 'stocktake' }, { idempotencyKey: 'adj-9' });
      const stored = await redis().keys('idempotency:*');
      expect(stored).toHaveLength(1);
      await redis().del(stored);

      const again = await postAdjustment(product.id, { delta: -2, reason: 'stocktake' }, { idempotencyKey: 'adj-9' });
      await redis().del(await redis().keys('idempotency:*'));
      const other = await postAdjustment(product.id, { delta: -3, reason: 'stocktake' }, { idempotencyKey: 'adj-9' });

      expect(again.statusCode).toBe(201);
      expect(again.headers['Idempotent-Replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
      expect(other.statusCode).toBe(422);
      expect(await inventoryOf(product.id)).toBe(8);
      expect(await mirrorOf(product.id)).toBe(8);
      expect(await adjustmentRows(product.id)).toHaveLength(1);
    });

    test('a key is per product: the same key on another product is another adjustment', async () => {
      const mug = await givenProduct({ stock: 10 });
      const tee = await givenProduct({ stock: 10 });

      const onMug = await postAdjustment(mug.id, { delta: 1, reason: 'r' }, { idempotencyKey: 'same' });
      const onTee = await postAdjustment(tee.id, { delta: 1, reason: 'r' }, { idempotencyKey: 'same' });

      expect(onTee.statusCode).toBe(201);
      expect(onTee.headers['Idempotent-Replayed']).toBeUndefined();
      expect(onTee.body.adjustment.id).not.toBe(onMug.body.adjustment.id);
      expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([11, 11]);
    });

    test('a refused adjustment is not stored: the key can be used again', async () => {
      const product = await givenProduct({ stock: 1 });

      const refused = await postAdjustment(product.id, { delta: -2, reason: 'r' }, { idempotencyKey: 'k' });
      await postAdjustment(product.id, { delta: 5, reason: 'delivery' });
      const retried = await postAdjustment(product.id, { delta: -2, reason: 'r' }, { idempotencyKey: 'k' });

      expect(refused.statusCode).toBe(409);
      expect(retried.statusCode).toBe(201);
      expect(retried.body.quantity).toBe(4);
    });
  });

  test('the commit fails after the mirror moved: the mirror is dropped (reloaded from PostgreSQL), nothing written, 503', async () => {
    // Prepare: the transaction does all its work, then its commit is lost.
    const product = await givenProduct({ stock: 10 });
    await loadMirror(product.id);
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
    const failingCommit: Db = {
      query: (text, params) => db().query(text, params),
      transaction: (work) =>
        db().transaction(async (tx) => {
          await work(tx);
          throw lost;
        }),
    };

    // Act
    const response = await postAdjustment(
      product.id,
      { delta: 5, reason: 'restock' },
      {
        deps: () => ({ ...testDeps(), db: failingCommit }),
      },
    );

    // Assess
    expect(response.statusCode).toBe(503);
    expect(await inventoryOf(product.id)).toBe(10);
    expect(await adjustmentRows(product.id)).toEqual([]);
    expect(await mirrorOf(product.id)).toBeNull();
    expect((await getStock(product.id)).body).toMatchObject({ quantity: 10, available: 10 });
  });
});

describe('setStockTo (npm run db:seed): the same code as an operator adjustment', () => {
  test('sets stock on hand and its mirror; the difference is an adjustment; no row when already there', async () => {
    const product = await givenProduct({ stock: 10 });
    await loadMirror(product.id);

    await setStockTo(db(), redis(), product.id, 25, 'npm run db:seed');
    await setStockTo(db(), redis(), product.id, 25, 'npm run db:seed');
    await setStockTo(db(), redis(), product.id, 4, 'npm run db:seed');

    expect(await inventoryOf(product.id)).toBe(4);
    expect(await mirrorOf(product.id)).toBe(4);
    expect(await adjustmentRows(product.id)).toEqual([
      { product_id: product.id, delta: 15, reason: 'npm run db:seed', idempotency_key: null, quantity_after: 25 },
      { product_id: product.id, delta: -21, reason: 'npm run db:seed', idempotency_key: null, quantity_after: 4 },
    ]);
  });
});

/**
 * An adjustment racing orders on committed rows: every order and the adjustment served by their own
 * container (own PostgreSQL pool, own Redis connection), so nothing makes them take turns.
 */
describe('an adjustment racing 50 orders for the same 10 units', () => {
  let world: CommittedWorld;

  beforeAll(async () => {
    world = await CommittedWorld.open(5);
  });
  afterAll(async () => {
    await world.close();
  });

  test('a mirror reload racing an adjustment never counts its delta twice: the reload waits for the commit', async () => {
    // Prepare: no mirror; the adjuster's mirror move waits at a gate the test opens.
    const product = await world.givenProduct({ stock: 10 });
    const adjuster = world.containers[0]!;
    const client = commands(adjuster.redis);
    const settle = client.settleStock;
    let reached!: () => void;
    const atMove = new Promise<void>((resolve) => {
      reached = resolve;
    });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    client.settleStock = async (...args: (string | number)[]) => {
      reached();
      await gate;
      return settle.apply(client, args);
    };
    try {
      // Act: while the move waits, another container finds the mirror missing and loads it.
      const adjusted = postAdjustment(product.id, { delta: 5, reason: 'delivery' }, { deps: () => adjuster.deps });
      await atMove;
      let reloaded = false;
      const reload = world.loadStockMirror(product.id).then(() => {
        reloaded = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const reloadedBeforeCommit = reloaded;
      open();
      const response = await adjusted;
      await reload;

      // Assess
      expect(response.statusCode).toBe(201);
      expect(reloadedBeforeCommit).toBe(false);
      expect(await world.inventoryOf(product.id)).toBe(15);
      expect(await world.redis.get(keys.stock(product.id))).toBe('15');
    } finally {
      client.settleStock = settle;
      open();
      await world.cleanup();
    }
  });

  test.each([
    { afterPaid: 0, mirror: 'loaded' },
    { afterPaid: 2, mirror: 'loaded' },
    { afterPaid: 2, mirror: 'not loaded' },
    // Six sold and answered: fewer than 5 are left whenever it locks, so it is refused.
    { afterPaid: 6, mirror: 'loaded', refused: true },
  ])(
    'adjustment -5 sent once $afterPaid orders are paid (mirror $mirror): never oversold, no unit lost, mirror right',
    async ({ afterPaid, mirror, refused }) => {
      // Prepare
      stripeAnswers('succeeded');
      stripeRefunds();
      // Stripe answers after 0-27 ms, so the orders' commits spread out and the adjustment lands among them.
      const answer = mockPaymentIntentsCreate.getMockImplementation()!;
      let charges = 0;
      // The charges after the first `afterPaid` wait (up to 5 s) until the adjustment holds the stock
      // row: those orders are still unanswered then, so the adjustment always lands among the orders
      // (on a busy machine all 50 could otherwise be answered before it locks).
      let adjustmentLocked = false;
      mockPaymentIntentsCreate.mockImplementation(async (...args: unknown[]) => {
        charges += 1;
        const mine = charges;
        await new Promise((resolve) => setTimeout(resolve, (mine * 7) % 28));
        for (let waited = 0; mine > afterPaid && !adjustmentLocked && waited < 5000; waited += 5) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        return answer(...args);
      });
      const product = await world.givenProduct({ stock: 10 });
      try {
        if (mirror === 'loaded') await world.loadStockMirror(product.id);
        const [adjuster, ...sellers] = world.containers as [(typeof world.containers)[0], ...typeof world.containers];
        // What the adjustment saw: how many orders were answered (and paid) when it held the stock row.
        let answered = 0;
        let paidAnswers = 0;
        let atLock = { answered: -1, paid: -1 };
        const observed: Db = {
          query: (text, params) => adjuster.db.query(text, params),
          transaction: (work) =>
            adjuster.db.transaction((tx) =>
              work({
                query: async <R extends QueryResultRow>(text: string, params?: unknown[]) => {
                  const result = await tx.query<R>(text, params);
                  if (text.includes('FROM inventory') && text.includes('FOR UPDATE')) {
                    atLock = { answered, paid: paidAnswers };
                    adjustmentLocked = true;
                  }
                  return result;
                },
                transaction: (inner) => inner(tx),
              }),
            ),
        };

        // Act
        let adjustment: Promise<Response> | undefined;
        const adjust = () =>
          postAdjustment(
            product.id,
            { delta: -5, reason: 'stocktake' },
            { deps: () => ({ ...adjuster.deps, db: observed }) },
          );
        if (afterPaid === 0) adjustment = adjust();
        const orders = Array.from({ length: 50 }, (_, i) =>
          world
            .postOrder(
              sellers[i % sellers.length]!,
              orderBody([{ productId: product.id, quantity: 1 }]),
              world.idempotencyKey(`adjust-race-${product.id}-${i}`),
            )
            .then((response) => {
              answered += 1;
              if (response.statusCode === 201) paidAnswers += 1;
              if (response.statusCode === 201 && paidAnswers === afterPaid) adjustment = adjust();
              return response;
            }),
        );
        const responses = await Promise.all(orders);
        const adjusted = await adjustment!;

        // Assess
        const { rows } = await world.db.query<{ status: string; failure_code: string | null; n: string }>(
          `SELECT o.status, o.failure_code, count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE i.product_id = $1 GROUP BY 1, 2`,
          [product.id],
        );
        const paid = Number(rows.find((r) => r.status === 'paid')?.n ?? 0);
        const quantity = await world.inventoryOf(product.id);
        const adjustments = await adjustmentRows(product.id, world.db);
        const applied = adjusted.statusCode === 201 ? -5 : 0;
        const figures = await getStock(product.id, () => adjuster.deps);

        // It was a race: the adjustment held the stock row after `afterPaid` sales and before the last answer.
        expect(atLock.paid).toBeGreaterThanOrEqual(afterPaid);
        expect(atLock.answered).toBeLessThan(50);
        if (refused) expect(adjusted.statusCode).toBe(409);
        else expect([201, 409]).toContain(adjusted.statusCode);
        if (adjusted.statusCode === 409) expect(adjusted.body.error.code).toBe('stock_below_zero');
        expect(responses.map((r) => r.statusCode).every((s) => s === 201 || s === 409)).toBe(true);
        expect(rows.every((r) => r.status === 'paid' || r.status === 'failed')).toBe(true);
        // Never oversold, never a unit lost: what was sold plus what is left is the stock, adjusted or not.
        expect({ paid, quantity, sum: paid + quantity }).toEqual({ paid, quantity, sum: 10 + applied });
        expect(quantity).toBeGreaterThanOrEqual(0);
        expect(adjustments).toHaveLength(applied === 0 ? 0 : 1);
        if (applied) expect(adjustments[0]).toMatchObject({ delta: -5, quantity_after: adjusted.body.quantity });
        // Redis agrees with PostgreSQL once everyone is done: no hold left, the mirror is the stock.
        expect(await world.redis.get(keys.held(product.id))).toBeNull();
        expect(Number(await world.redis.get(keys.stock(product.id)))).toBe(quantity);
        expect(figures.body).toEqual({ productId: product.id, quantity, held: 0, available: quantity });
      } finally {
        await world.cleanup();
      }
    },
    60_000,
  );
});
