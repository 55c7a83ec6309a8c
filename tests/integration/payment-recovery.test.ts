import { Client } from 'pg';
import { createOrderHandler } from '../../handlers/create-order';
import { createPoolDb, type Db } from '../../lib/db';
import { loadStockMirror } from '../../lib/inventory/stock';
import { keys } from '../../lib/keys';
import { testEnvironment } from '../../scripts/test-environment';
import { availableOf, countRows, givenProduct, heldOf, holdOf, inventoryOf, orderRow } from '../helpers/builders';
import { apiGatewayEvent, invoke } from '../helpers/events';
import { db, redis, testDeps } from '../helpers/harness';
import { expectedPaymentIntent, orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { apiError, connectionError, paymentIntent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsCreate, mockPaymentIntentsRetrieve, mockPaymentIntentsSearch } from '../helpers/stripe-mock';

/** A PostgreSQL whose every statement fails with SQLSTATE `code`. */
function failingWith(code: string, message: string): Db {
  const fail = () => Promise.reject(Object.assign(new Error(message), { code }));
  return { query: fail, transaction: fail };
}

/** POST /orders for one unit of `productId` (or `quantity`), through a handler whose PostgreSQL is `db`. */
function postOrderWith(db: Db, idempotencyKey: string, productId: string, quantity = 1) {
  return invoke(
    createOrderHandler(() => ({ ...testDeps(), db })),
    apiGatewayEvent({
      method: 'POST',
      path: '/orders',
      headers: { 'idempotency-key': idempotencyKey },
      body: orderBody([{ productId, quantity }]),
    }),
  );
}

describe('when Stripe cannot be reached', () => {
  test.each([
    ['a connection error', connectionError],
    ['a Stripe 5xx', apiError],
  ])(
    '%s gives 503 with Retry-After, keeps the order pending and its hold, and stores no result',
    async (_name, failure) => {
      const product = await givenProduct({ stock: 3 });
      mockPaymentIntentsCreate.mockRejectedValue(failure());

      const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]), {
        idempotencyKey: 'key-503',
      });

      expect(response.statusCode).toBe(503);
      expect(response.body.error.code).toBe('payment_provider_unavailable');
      expect(Number(response.headers['Retry-After'])).toBeGreaterThan(0);
      const orderId = response.body.error.orderId;
      expect(await orderRow(orderId)).toMatchObject({ status: 'pending', locked_until: null });
      expect(await holdOf(orderId)).toEqual({ [product.id]: '2' });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await redis().exists(keys.idempotency('key-503'))).toBe(0);
    },
  );

  test('the retry with the same key resumes the same order and charges once, with the same Stripe idempotency key', async () => {
    const product = await givenProduct({ priceCents: 900, stock: 3 });
    mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
    const body = orderBody([{ productId: product.id, quantity: 2 }]);
    const failed = await postOrder(body, { idempotencyKey: 'key-retry' });
    const orderId = failed.body.error.orderId;
    stripeAnswers('succeeded');

    const retried = await postOrder(body, { idempotencyKey: 'key-retry' });

    expect(retried.statusCode).toBe(201);
    expect(retried.body.order).toMatchObject({ id: orderId, status: 'paid', amountCents: 1800 });
    expect(mockPaymentIntentsSearch).toHaveBeenCalledWith({ query: `metadata['order_id']:'${orderId}'`, limit: 1 });
    // Both attempts carry the order's idempotency key: had the first reached Stripe, the second gets it back.
    expect(mockPaymentIntentsCreate.mock.calls).toEqual([
      expectedPaymentIntent(orderId, 1800),
      expectedPaymentIntent(orderId, 1800),
    ]);
    expect(await countRows('orders')).toBe(1);
    expect(await inventoryOf(product.id)).toBe(1);
    expect(await holdOf(orderId)).toEqual({});
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(1);
  });
});

describe('a retry after a crash between the charge and the commit', () => {
  /** What a Lambda that died right after Stripe charged leaves behind: a pending order, its lease run out. */
  async function givenCrashedAttempt(productId: string, idempotencyKey: string) {
    const body = orderBody([{ productId, quantity: 1 }]);
    mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
    const first = await postOrder(body, { idempotencyKey });
    const orderId: string = first.body.error.orderId;
    await db().query(`UPDATE orders SET locked_until = now() - interval '1 second' WHERE id = $1`, [orderId]);
    return { body, orderId };
  }

  test('finds the PaymentIntent by metadata.order_id, ends paid, and never creates a second one', async () => {
    const product = await givenProduct({ priceCents: 500, stock: 2 });
    const { body, orderId } = await givenCrashedAttempt(product.id, 'key-crash');
    const charged = paymentIntent({ status: 'succeeded', amount: 500, currency: 'usd', orderId });
    mockPaymentIntentsSearch.mockResolvedValue({ object: 'search_result', data: [charged], has_more: false });
    mockPaymentIntentsCreate.mockClear();

    const retried = await postOrder(body, { idempotencyKey: 'key-crash' });

    expect(retried.statusCode).toBe(201);
    expect(retried.body.order).toMatchObject({ id: orderId, status: 'paid', paymentIntentId: charged.id });
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    expect(await orderRow(orderId)).toMatchObject({ status: 'paid', payment_intent_id: charged.id });
    expect(await inventoryOf(product.id)).toBe(1);
  });

  test('retrieves the PaymentIntent by its stored id when the order has one', async () => {
    const product = await givenProduct({ priceCents: 500, stock: 2 });
    const { body, orderId } = await givenCrashedAttempt(product.id, 'key-stored-pi');
    const charged = paymentIntent({ status: 'succeeded', amount: 500, currency: 'usd', orderId });
    await db().query('UPDATE orders SET payment_intent_id = $2 WHERE id = $1', [orderId, charged.id]);
    mockPaymentIntentsRetrieve.mockResolvedValue(charged);
    mockPaymentIntentsCreate.mockClear();

    const retried = await postOrder(body, { idempotencyKey: 'key-stored-pi' });

    expect(retried.statusCode).toBe(201);
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledWith(charged.id);
    expect(mockPaymentIntentsSearch).not.toHaveBeenCalled();
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    expect(await inventoryOf(product.id)).toBe(1);
  });

  test('a retry while the first attempt still owns the order gets 409 idempotency_in_progress', async () => {
    const product = await givenProduct({ stock: 2 });
    const body = orderBody([{ productId: product.id, quantity: 1 }]);
    mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
    const first = await postOrder(body, { idempotencyKey: 'key-owned' });
    await db().query(`UPDATE orders SET locked_until = now() + interval '30 seconds' WHERE id = $1`, [
      first.body.error.orderId,
    ]);
    mockPaymentIntentsCreate.mockClear();

    const retried = await postOrder(body, { idempotencyKey: 'key-owned' });

    expect(retried.statusCode).toBe(409);
    expect(retried.body.error.code).toBe('idempotency_in_progress');
    expect(retried.headers['Retry-After']).toBeDefined();
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  });
});

describe('when PostgreSQL fails after the key was taken and the stock held', () => {
  test.each([
    ['refused', () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    // What node-postgres raises, with no code, when the server goes away in the middle of a statement.
    ['lost mid-statement', () => new Error('Connection terminated unexpectedly')],
  ])(
    'the connection %s: 503 service_unavailable, and the hold and the key are let go at once',
    async (_name, failure) => {
      // Prepare: a product ordered before (its mirror is in Redis); PostgreSQL fails the order's insert.
      const product = await givenProduct({ stock: 2 });
      await loadStockMirror(db(), redis(), [product.id]);
      const down = failure();
      const failingInsert: Db = {
        query: (text, params) =>
          text.includes('INSERT INTO orders') ? Promise.reject(down) : db().query(text, params),
        transaction: (work) => db().transaction(work),
      };

      // Act
      const response = await postOrderWith(failingInsert, 'key-pg-down', product.id, 2);

      // Assess
      expect(response.statusCode).toBe(503);
      expect(response.body.error.code).toBe('service_unavailable');
      expect(await countRows('orders')).toBe(0);
      expect(await redis().keys('*')).toEqual([keys.stock(product.id)]);
      expect(await availableOf(product.id)).toBe(2);
      expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    },
  );
});

describe('when PostgreSQL cannot serve now', () => {
  test('it refuses the connection itself (53300 too many connections, from a real server): 503 service_unavailable with Retry-After, nothing written', async () => {
    // Prepare: a role PostgreSQL lets connect zero times at once: every connection gets 53300.
    const admin = new Client({ connectionString: testEnvironment().databaseUrl });
    await admin.connect();
    await admin.query(`DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orders_no_connections') THEN
        CREATE ROLE orders_no_connections LOGIN CONNECTION LIMIT 0;
      END IF; END $$`);
    await admin.end();
    const url = Object.assign(new URL(testEnvironment().databaseUrl), { username: 'orders_no_connections' }).toString();
    const full = createPoolDb(url, 1);
    const seen = await full.query('SELECT 1').catch((error: { code?: string }) => error.code);
    expect(seen).toBe('53300');
    const product = await givenProduct({ stock: 2 });

    // Act
    const response = await postOrderWith(full, 'key-pg-full', product.id, 1);
    await full.end();

    // Assess
    expect(response.statusCode).toBe(503);
    expect(response.headers['Retry-After']).toBe('1');
    expect(response.body.error.code).toBe('service_unavailable');
    expect(await countRows('orders')).toBe(0);
    expect(await redis().keys('*')).toEqual([]);
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  });

  test.each([
    ['53300', 'too many connections'],
    ['53100', 'disk full'],
    ['53200', 'out of memory'],
    ['08006', 'connection failure'],
    ['57P03', 'the database system is starting up'],
    ['57014', 'canceling statement due to statement timeout'],
    ['40P01', 'deadlock detected'],
    ['40001', 'could not serialize access'],
    ['55P03', 'lock not available'],
  ])('SQLSTATE %s (%s) is 503 service_unavailable, not 500', async (code, message) => {
    const product = await givenProduct({ stock: 2 });

    const response = await postOrderWith(failingWith(code, message), `key-${code}`, product.id);

    expect({ code, status: response.statusCode, error: response.body.error.code }).toEqual({
      code,
      status: 503,
      error: 'service_unavailable',
    });
  });

  test('a statement that is wrong (23505 unique violation, 42P01 undefined table) is still a masked 500', async () => {
    for (const code of ['23505', '42P01']) {
      const product = await givenProduct({ stock: 2 });
      const response = await postOrderWith(failingWith(code, 'bug'), `key-${code}`, product.id);
      expect({ code, status: response.statusCode }).toEqual({ code, status: 500 });
    }
  });

  test('a lock timeout (55P03) while paying a charged order: 503, and the retry at once resumes it (Stripe asked first) and ends paid with one charge', async () => {
    // Prepare: PostgreSQL gives up on the confirm's locks once, after Stripe charged.
    const product = await givenProduct({ priceCents: 1000, stock: 2 });
    stripeAnswers('succeeded');
    let failed = false;
    const once: Db = {
      query: (text, params) => {
        if (!failed && text.includes("status = 'paid'")) {
          failed = true;
          return Promise.reject(Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' }));
        }
        return db().query(text, params);
      },
      transaction: (work) => db().transaction(work),
    };
    const first = await postOrderWith(once, 'key-lock-timeout', product.id);
    const charged = await mockPaymentIntentsCreate.mock.results[0]?.value;
    mockPaymentIntentsRetrieve.mockResolvedValue(charged);
    mockPaymentIntentsSearch.mockResolvedValue({
      object: 'search_result',
      data: [charged],
      has_more: false,
      next_page: null,
      url: '/v1/payment_intents/search',
    });

    // Act
    const retried = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
      idempotencyKey: 'key-lock-timeout',
    });

    // Assess
    expect(first.statusCode).toBe(503);
    expect(first.body.error.code).toBe('service_unavailable');
    expect(retried.statusCode).toBe(201);
    expect(retried.body.order).toMatchObject({ status: 'paid', paymentIntentId: charged.id });
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await inventoryOf(product.id)).toBe(1);
  });
});
