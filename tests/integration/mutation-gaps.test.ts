import { randomUUID } from 'node:crypto';
import { createOrderHandler } from '../../handlers/create-order';
import { refundHandler } from '../../handlers/refund';
import { ConfigError } from '../../lib/config';
import { createPoolDb } from '../../lib/db';
import type { Deps } from '../../lib/deps';
import { fingerprint } from '../../lib/idempotency/fingerprint';
import { RedisIdempotencyStore, RedisLater } from '../../lib/idempotency/redis-store';
import { keys } from '../../lib/keys';
import { payPending } from '../../lib/orders/order-payment-store';
import { failAfterPayment } from '../../lib/orders/out-of-stock';
import { pendingRefunds } from '../../lib/orders/refund-store';
import { stripePayments } from '../../lib/payments/stripe-payments';
import { testEnvironment } from '../../scripts/test-environment';
import { givenProduct, heldOf, inventoryOf, orderRow } from '../helpers/builders';
import { apiGatewayEvent, invoke } from '../helpers/events';
import { db, redis, testDeps } from '../helpers/harness';
import {
  getOrder,
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  postRefund,
  stripeAnswers,
  stripeRefunds,
} from '../helpers/orders';
import { connectionError } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsCreate, mockRefundsCreate } from '../helpers/stripe-mock';

/**
 * Written for mutation testing (MUTATION.md, "Gaps worth closing first"): behaviour no other test
 * pinned, each seen to fail against the mutant it names.
 */

async function refundRows(orderId: string) {
  const { rows } = await db().query<{ id: string; amount_cents: number; status: string; reason: string | null }>(
    'SELECT id, amount_cents, status, reason FROM refunds WHERE order_id = $1 ORDER BY created_at, id',
    [orderId],
  );
  return rows;
}

async function ordersUnderKey(key: string): Promise<string[]> {
  const { rows } = await db().query<{ id: string }>('SELECT id FROM orders WHERE idempotency_key = $1', [key]);
  return rows.map((r) => r.id);
}

/** The exact refund request the service must send Stripe for refund `refundId`. */
function expectedRefund(o: {
  paymentIntentId: string;
  amount: number;
  orderId: string;
  refundId: string;
  reason?: string;
}) {
  return [
    {
      payment_intent: o.paymentIntentId,
      amount: o.amount,
      ...(o.reason ? { reason: o.reason } : {}),
      metadata: { order_id: o.orderId, refund_id: o.refundId },
    },
    { idempotencyKey: `refund-${o.refundId}` },
  ];
}

describe('keyed refunds (refund-order.ts)', () => {
  // refund-order.ts:42: the durable guard's key is the order and the caller's key, not the body.
  test('two partial refunds of one order with different Idempotency-Keys and identical bodies are two refunds, each sent to Stripe', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const body = { items: [{ productId: mug.id, quantity: 1 }] };

    const first = await postRefund(order.id, body, { idempotencyKey: 'refund-key-a' });
    const second = await postRefund(order.id, body, { idempotencyKey: 'refund-key-b' });

    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    expect(second.headers['Idempotent-Replayed']).toBeUndefined();
    expect(second.body.refund.id).not.toBe(first.body.refund.id);
    const ids = [first.body.refund.id, second.body.refund.id];
    expect(mockRefundsCreate.mock.calls).toEqual(
      ids.map((refundId) =>
        expectedRefund({ paymentIntentId: order.paymentIntentId, amount: 1000, orderId: order.id, refundId }),
      ),
    );
    expect((await refundRows(order.id)).map((r) => [r.amount_cents, r.status])).toEqual([
      [1000, 'succeeded'],
      [1000, 'succeeded'],
    ]);
    expect(await inventoryOf(mug.id)).toBe(9); // 10 - 3 bought + 2 given back
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
  });

  // refund-order.ts:67: with the Redis answer gone, only PostgreSQL's request_hash can refuse the body.
  test('a key whose Redis answer was lost, sent again with another body, is refused 422 idempotency_key_mismatch: the first refund stands, nothing new is sent', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const first = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] }, { idempotencyKey: 'k1' });
    expect(first.statusCode).toBe(201);
    expect(await redis().del(keys.refundIdempotency(order.id, 'k1'))).toBe(1);

    const other = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] }, { idempotencyKey: 'k1' });

    expect(other.statusCode).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_mismatch');
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await refundRows(order.id)).toEqual([
      { id: first.body.refund.id, amount_cents: 1000, status: 'succeeded', reason: null },
    ]);
    expect(await inventoryOf(mug.id)).toBe(8);
  });

  // send-refund.ts:13: Stripe's refund reasons are sent as `reason`, not only kept in metadata.
  test.each(['duplicate', 'fraudulent'])('a refund with reason %s sends Stripe that reason', async (reason) => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();

    const response = await postRefund(order.id, { reason });

    expect(response.statusCode).toBe(201);
    expect(mockRefundsCreate.mock.calls).toEqual([
      expectedRefund({
        paymentIntentId: order.paymentIntentId,
        amount: 3000,
        orderId: order.id,
        refundId: response.body.refund.id,
        reason,
      }),
    ]);
    expect(await refundRows(order.id)).toEqual([
      { id: response.body.refund.id, amount_cents: 3000, status: 'succeeded', reason },
    ]);
  });
});

describe('POST /orders: the out-of-stock refund and the key (create-order.ts, redis-store.ts)', () => {
  // create-order.ts:106: the retry, not only a webhook redelivery, sends the refund Stripe missed.
  test("a paid order found out of stock whose refund hit a Stripe outage (503) is refunded by the client's retry with the same key", async () => {
    const scarce = await givenProduct({ priceCents: 700, stock: 2 });
    stripeAnswers('succeeded');
    const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (params: unknown) => Promise<unknown>;
    mockPaymentIntentsCreate.mockImplementationOnce(async (params: unknown) => {
      // While the card is charged, the stock goes (as a sale elsewhere after the hold expired would).
      await db().query('UPDATE inventory SET quantity = 0 WHERE product_id = $1', [scarce.id]);
      return answerSucceeded(params);
    });
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    const key = randomUUID();
    const body = orderBody([{ productId: scarce.id, quantity: 2 }]);

    const first = await postOrder(body, { idempotencyKey: key });
    expect(first.statusCode).toBe(503);
    expect(first.body.error.code).toBe('payment_provider_unavailable');
    const [orderId = 'none'] = await ordersUnderKey(key);
    const failed = await orderRow(orderId);
    expect(failed).toMatchObject({ status: 'failed', failure_code: 'out_of_stock_after_payment' });
    const [pending] = await refundRows(orderId);
    expect(pending).toMatchObject({ amount_cents: 1400, status: 'pending', reason: 'out_of_stock_after_payment' });
    const refundId = pending?.id ?? 'none';

    stripeRefunds();
    const retry = await postOrder(body, { idempotencyKey: key });

    expect(retry.statusCode).toBe(409);
    expect(retry.body.error).toMatchObject({ code: 'insufficient_inventory', orderId, productId: scarce.id });
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    // The same refund twice, under one Stripe idempotency key: Stripe refunds it once. Our own reason
    // is not one of Stripe's, so it goes in the metadata.
    const sent = [
      {
        payment_intent: failed?.payment_intent_id,
        amount: 1400,
        metadata: { order_id: orderId, refund_id: refundId, reason: 'out_of_stock_after_payment' },
      },
      { idempotencyKey: `refund-${refundId}` },
    ];
    expect(mockRefundsCreate.mock.calls).toEqual([sent, sent]);
    expect(await refundRows(orderId)).toEqual([{ ...pending, status: 'succeeded' }]);
  });

  // redis-store.ts:66: the key's script answering 'claimed' means another request owns the key.
  test('a key another request has claimed, before it recorded any order, is refused 409 idempotency_in_progress: no order, no hold, no charge', async () => {
    const mug = await givenProduct({ stock: 10 });
    stripeAnswers('succeeded');
    const body = orderBody([{ productId: mug.id, quantity: 1 }]);
    const key = randomUUID();
    const record = JSON.stringify({ state: 'in_progress', fingerprint: fingerprint(body) });
    await redis().set(keys.idempotency(key), record, 'EX', 30);

    const response = await postOrder(body, { idempotencyKey: key });

    expect(response.statusCode).toBe(409);
    expect(response.body.error.code).toBe('idempotency_in_progress');
    expect(response.headers['Retry-After']).toEqual(expect.any(String));
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    expect(await ordersUnderKey(key)).toEqual([]);
    expect(await heldOf(mug.id)).toBe(0);
    expect(await redis().get(keys.idempotency(key))).toBe(record);
  });
});

describe('failAfterPayment (out-of-stock.ts, order-payment-store.ts failOutOfStock)', () => {
  // order-payment-store.ts:162, out-of-stock.ts:34: "another writer moved it" does nothing, says false.
  test('on an order another writer already paid: false, no refund row, no Stripe call, the order still paid with its stock', async () => {
    const mug = await givenProduct({ priceCents: 900, stock: 5 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();

    const failed = await failAfterPayment(testDeps(), {
      orderId: order.id,
      paymentIntentId: order.paymentIntentId,
      productId: mug.id,
      lines: [{ productId: mug.id, quantity: 2 }],
      eventCreated: null,
      cause: { source: 'webhook', stripeEventId: 'evt_late_success' },
    });

    expect(failed).toBe(false);
    expect(await refundRows(order.id)).toEqual([]);
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', failure_code: null });
    expect(await inventoryOf(mug.id)).toBe(3);
  });
});

describe('payPending: the one-statement payment of a pending order (order-payment-store.ts)', () => {
  async function givenPendingTwoLineOrder(stock: { mug: number; tee: number }) {
    const mug = await givenProduct({ priceCents: 500, stock: stock.mug });
    const tee = await givenProduct({ priceCents: 800, stock: stock.tee });
    const lines = [
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 3 },
    ];
    const order = await givenPendingOrder(lines);
    return { mug, tee, lines, order };
  }

  // order-payment-store.ts:27, 75, 76: the multi-line statement and its parameters.
  test('a pending order of two lines with enough stock: true, both lines taken, the order paid', async () => {
    const { mug, tee, lines, order } = await givenPendingTwoLineOrder({ mug: 5, tee: 3 });

    const paid = await payPending(db(), order.id, order.paymentIntentId, lines, { source: 'api' });

    expect(paid).toBe(true);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([3, 0]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', payment_intent_id: order.paymentIntentId });
  });

  test('a pending order of one line with enough stock: true, the line taken, the order paid', async () => {
    const mug = await givenProduct({ priceCents: 500, stock: 4 });
    const lines = [{ productId: mug.id, quantity: 4 }];
    const order = await givenPendingOrder(lines);

    const paid = await payPending(db(), order.id, order.paymentIntentId, lines, { source: 'api' });

    expect(paid).toBe(true);
    expect(await inventoryOf(mug.id)).toBe(0);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
  });

  test('one line of two short of stock: false, no line taken, the order still pending', async () => {
    const { mug, tee, lines, order } = await givenPendingTwoLineOrder({ mug: 5, tee: 3 });
    await db().query('UPDATE inventory SET quantity = 2 WHERE product_id = $1', [tee.id]);

    const paid = await payPending(db(), order.id, order.paymentIntentId, lines, { source: 'api' });

    expect(paid).toBe(false);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([5, 2]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
  });

  test('an order no longer pending (paid already): false, no stock taken again', async () => {
    const mug = await givenProduct({ priceCents: 500, stock: 10 });
    const tee = await givenProduct({ priceCents: 800, stock: 10 });
    const lines = [
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 3 },
    ];
    const order = await givenPaidOrder(lines);

    const paid = await payPending(db(), order.id, order.paymentIntentId, lines, { source: 'api' });

    expect(paid).toBe(false);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([8, 7]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
  });
});

describe('RedisLater.send (redis-store.ts)', () => {
  // redis-store.ts:17: a failed command in the final pipeline (stored answer, settle) is not swallowed.
  test('rejects when a queued command fails, after sending the others', async () => {
    await redis().set('mutation-gaps:text', 'not a number');
    const later = new RedisLater(redis().pipeline());
    later.pipeline.set('mutation-gaps:before', 'sent');
    later.pipeline.incr('mutation-gaps:text');

    await expect(later.send()).rejects.toThrow(/not an integer/);
    expect(await redis().get('mutation-gaps:before')).toBe('sent');
  });

  test('complete() rejects when the pipeline it sends the stored answer with has a failing command', async () => {
    await redis().set('mutation-gaps:text', 'not a number');
    const store = new RedisIdempotencyStore(redis());
    const later = store.later();
    later.pipeline.incr('mutation-gaps:text');

    await expect(store.complete('idempotency:mutation-gaps', '{"state":"done"}', 60, later)).rejects.toThrow(
      /not an integer/,
    );
  });

  test('resolves when every queued command succeeds', async () => {
    // As the service makes one: from the store, whose client has the Lua scripts registered (a bare
    // pipeline has them only if an earlier test registered them on this client).
    const later = new RedisIdempotencyStore(redis()).later();
    later.pipeline.set('mutation-gaps:a', '1');
    later.settleHold(randomUUID(), []);

    await expect(later.send()).resolves.toBeUndefined();
    expect(await redis().get('mutation-gaps:a')).toBe('1');
  });
});

describe('order ids with junk around a UUID (schemas.ts)', () => {
  // schemas.ts:6: without `^`, 'x' + uuid reached PostgreSQL's uuid cast: a 500.
  test('GET /orders/x<uuid> is 404 order_not_found', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);

    const response = await getOrder(`x${order.id}`);

    expect(response.statusCode).toBe(404);
    expect(response.body.error.code).toBe('order_not_found');
  });

  test('POST /orders/x<uuid>/refunds is 404 order_not_found, nothing sent to Stripe', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);
    stripeRefunds();

    const response = await postRefund(`x${order.id}`);

    expect(response.statusCode).toBe(404);
    expect(response.body.error.code).toBe('order_not_found');
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await refundRows(order.id)).toEqual([]);
  });
});

describe('a bug is a 500, not an outage: only the payment provider is answered 503', () => {
  // create-order-payment.ts:62: a missing STRIPE_SECRET_KEY is our error; a 503 would have clients retry for ever.
  test('POST /orders when the Stripe client cannot be built (ConfigError): 500 internal_error, no Retry-After, no charge', async () => {
    const mug = await givenProduct({ stock: 10 });
    const deps: Deps = {
      ...testDeps(),
      payments: stripePayments(() => {
        throw new ConfigError('STRIPE_SECRET_KEY is not set');
      }),
    };
    const handler = createOrderHandler(() => deps);

    const response = await invoke(
      handler,
      apiGatewayEvent({
        method: 'POST',
        path: '/orders',
        headers: { 'idempotency-key': randomUUID() },
        body: orderBody([{ productId: mug.id, quantity: 1 }]),
      }),
    );

    expect(response.statusCode).toBe(500);
    expect(response.body.error.code).toBe('internal_error');
    expect(response.headers['Retry-After']).toBeUndefined();
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  });

  // send-refund.ts:30: the same for the refund call.
  test('POST /orders/{id}/refunds when the refund call fails with a plain TypeError: 500 internal_error, the refund left pending', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);
    const base = testDeps();
    const deps: Deps = {
      ...base,
      payments: {
        ...base.payments,
        refund: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'id')");
        },
      },
    };

    const response = await invoke(
      refundHandler(() => deps),
      apiGatewayEvent({
        method: 'POST',
        path: `/orders/${order.id}/refunds`,
        routeKey: 'POST /orders/{orderId}/refunds',
        pathParameters: { orderId: order.id },
        body: {},
      }),
    );

    expect(response.statusCode).toBe(500);
    expect(response.body.error.code).toBe('internal_error');
    expect(response.headers['Retry-After']).toBeUndefined();
    expect(await refundRows(order.id)).toEqual([expect.objectContaining({ amount_cents: 1000, status: 'pending' })]);
  });
});

describe('pendingRefunds (refund-store.ts)', () => {
  // refund-store.ts:92: completeOutOfStockRefund must send only the out-of-stock refund, not the order's others.
  test("with a reason, only the order's pending refunds with that reason", async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    const [customer, outOfStock] = [randomUUID(), randomUUID()];
    await db().query(
      `INSERT INTO refunds (id, order_id, amount_cents, reason, status)
       VALUES ($1, $3, 1000, 'requested_by_customer', 'pending'), ($2, $3, 1000, 'out_of_stock_after_payment', 'pending')`,
      [customer, outOfStock, order.id],
    );

    const only = await pendingRefunds(db(), { orderId: order.id, reason: 'out_of_stock_after_payment' });
    const all = await pendingRefunds(db(), { orderId: order.id });

    expect(only.map((r) => [r.id, r.reason])).toEqual([[outOfStock, 'out_of_stock_after_payment']]);
    expect(all.map((r) => r.id).sort()).toEqual([customer, outOfStock].sort());
  });
});

describe('PoolDb.transaction (db.ts)', () => {
  // db.ts:84: each transaction's 'error' listener comes off the pooled client (else a MaxListeners warning after 10).
  test('a pooled connection keeps the same error listeners after 12 transactions on it', async () => {
    const poolDb = createPoolDb(testEnvironment().databaseUrl, 1);
    const errorListeners = async () => {
      const client = await poolDb.pool.connect();
      try {
        return client.listenerCount('error');
      } finally {
        client.release();
      }
    };
    try {
      const before = await errorListeners();
      for (let i = 0; i < 12; i += 1) await poolDb.transaction((tx) => tx.query('SELECT 1'));

      expect(await errorListeners()).toBe(before);
    } finally {
      await poolDb.end();
    }
  });
});
