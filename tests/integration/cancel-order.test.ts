import type Stripe from 'stripe';
import { cancelOrderHandler } from '../../handlers/cancel-order';
import { keys } from '../../lib/keys';
import { availableOf, givenProduct, heldOf, holdOf, inventoryOf, mirrorOf, orderRow } from '../helpers/builders';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { db, redis, testDeps } from '../helpers/harness';
import {
  duringNextCharge,
  expectSellableExactly,
  givenDeclinedOrder,
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  postRefund,
  stripeAnswers,
  stripeRefunds,
} from '../helpers/orders';
import {
  connectionError,
  invalidRequestError,
  paymentIntent,
  refund as stripeRefund,
} from '../helpers/stripe-fixtures';
import {
  mockPaymentIntentsCancel,
  mockPaymentIntentsCreate,
  mockPaymentIntentsRetrieve,
  mockPaymentIntentsSearch,
  mockRefundsCreate,
} from '../helpers/stripe-mock';

/** POST /orders/{orderId}/cancel through the real handler. */
function postCancel(
  orderId: string,
  body?: unknown,
  o: { idempotencyKey?: string; rawBody?: string } = {},
): Promise<Response> {
  return invoke(
    cancelOrderHandler(() => testDeps()),
    apiGatewayEvent({
      method: 'POST',
      path: `/orders/${orderId}/cancel`,
      routeKey: 'POST /orders/{orderId}/cancel',
      pathParameters: { orderId },
      headers: o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
      body,
      ...(o.rawBody === undefined ? {} : { rawBody: o.rawBody }),
    }),
  );
}

type Order = { id: string; paymentIntentId: string; amountCents: number; currency: string };

/** Stripe holds the order's PaymentIntent in `status` (retrieve, and the search by metadata.order_id). */
function stripeHolds(order: Order, status: Stripe.PaymentIntent.Status, o: { searchOnly?: boolean } = {}): void {
  const intent = () =>
    paymentIntent({
      id: order.paymentIntentId,
      status,
      amount: order.amountCents,
      currency: order.currency,
      orderId: order.id,
    });
  if (!o.searchOnly) mockPaymentIntentsRetrieve.mockImplementation(async () => intent());
  mockPaymentIntentsSearch.mockImplementation(async () => ({
    object: 'search_result',
    data: [intent()],
    has_more: false,
    next_page: null,
    url: '/v1/payment_intents/search',
  }));
}

/** Stripe cancels every PaymentIntent it is asked to, echoing the reason. */
function stripeCancels(order: Order): void {
  mockPaymentIntentsCancel.mockImplementation(async (id: string, params: { cancellation_reason: string }) => ({
    ...paymentIntent({
      id,
      status: 'canceled',
      amount: order.amountCents,
      currency: order.currency,
      orderId: order.id,
    }),
    cancellation_reason: params.cancellation_reason,
  }));
}

/** What Stripe answers (400) to a cancel of a PaymentIntent in a state it cannot be canceled from. */
function stripeRefusesCancel(): void {
  mockPaymentIntentsCancel.mockRejectedValue(
    invalidRequestError('payment_intent_unexpected_state', 'This PaymentIntent could not be canceled.'),
  );
}

async function historyOf(orderId: string) {
  const { rows } = await db().query<{ type: string; source: string }>(
    'SELECT type, source FROM order_events WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return rows;
}

async function outboxOf(orderId: string) {
  const { rows } = await db().query<{ topic: string; payload: Record<string, unknown> }>(
    'SELECT topic, payload FROM outbox WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  return rows;
}

async function refundRows(orderId: string) {
  const { rows } = await db().query<{ id: string; amount_cents: number; status: string; source: string }>(
    'SELECT id, amount_cents, status, source FROM refunds WHERE order_id = $1 ORDER BY created_at, id',
    [orderId],
  );
  return rows;
}

/** A pending order with no PaymentIntent: its create-order request could not reach Stripe (503). */
async function givenPendingOrderWithoutPaymentIntent(productId: string, quantity: number): Promise<string> {
  mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
  const response = await postOrder(orderBody([{ productId, quantity }]));
  expect(response.statusCode).toBe(503);
  const { rows } = await db().query<{ id: string }>(
    'SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1',
    [productId],
  );
  mockPaymentIntentsCreate.mockReset();
  return rows[0]?.id as string;
}

describe('POST /orders/{orderId}/cancel: a pending order', () => {
  test('with a PaymentIntent: canceled at Stripe with the reason and the order-derived key, its hold released at once, the order canceled', async () => {
    // Prepare: 2 of 5 held by an order waiting for 3-D Secure.
    const mug = await givenProduct({ priceCents: 1500, stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    expect([await availableOf(mug.id), await heldOf(mug.id)]).toEqual([3, 2]);
    stripeHolds(order, 'requires_action');
    stripeCancels(order);

    // Act
    const response = await postCancel(order.id, { reason: 'duplicate' });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({
      order: {
        id: order.id,
        status: 'canceled',
        amountCents: 3000,
        currency: 'usd',
        paymentIntentId: order.paymentIntentId,
        items: [{ productId: mug.id, quantity: 2, unitPriceCents: 1500 }],
      },
    });
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledWith(order.paymentIntentId);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledTimes(1);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledWith(
      order.paymentIntentId,
      { cancellation_reason: 'duplicate' },
      { idempotencyKey: `order-${order.id}-cancel` },
    );
    expect(await orderRow(order.id)).toMatchObject({
      status: 'canceled',
      cancel_reason: 'duplicate',
      locked_until: null,
    });
    expect(await holdOf(order.id)).toEqual({});
    expect(await heldOf(mug.id)).toBe(0);
    expect(await inventoryOf(mug.id)).toBe(5);
    expect(await historyOf(order.id)).toEqual(expect.arrayContaining([{ type: 'canceled', source: 'operator' }]));
    expect((await historyOf(order.id)).filter((e) => e.type === 'canceled')).toHaveLength(1);
    expect(await outboxOf(order.id)).toEqual([
      expect.objectContaining({
        topic: 'order.canceled',
        payload: expect.objectContaining({ reason: 'duplicate', amountCents: 3000, refundedCents: 0 }),
      }),
    ]);
    await expectSellableExactly(mug.id, 5);
  });

  test('no reason given: canceled for the customer (requested_by_customer), with no body at all', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    stripeHolds(order, 'requires_action');
    stripeCancels(order);

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(200);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledWith(
      order.paymentIntentId,
      { cancellation_reason: 'requested_by_customer' },
      { idempotencyKey: `order-${order.id}-cancel` },
    );
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled', cancel_reason: 'requested_by_customer' });
  });

  test('without a PaymentIntent anywhere (its charge never reached Stripe): Stripe is searched, nothing to cancel there, the order canceled and its hold released', async () => {
    const mug = await givenProduct({ stock: 5 });
    const orderId = await givenPendingOrderWithoutPaymentIntent(mug.id, 2);
    expect(await heldOf(mug.id)).toBe(2);

    const response = await postCancel(orderId, { reason: 'fraudulent' });

    expect(response.statusCode).toBe(200);
    expect(response.body.order).toMatchObject({ id: orderId, status: 'canceled', paymentIntentId: null });
    expect(mockPaymentIntentsSearch).toHaveBeenCalledWith({ query: `metadata['order_id']:'${orderId}'`, limit: 1 });
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(orderId)).toMatchObject({ status: 'canceled', cancel_reason: 'fraudulent' });
    expect(await heldOf(mug.id)).toBe(0);
    expect(await historyOf(orderId)).toContainEqual({ type: 'canceled', source: 'operator' });
    expect((await outboxOf(orderId)).map((r) => r.topic)).toEqual(['order.canceled']);
  });

  test('a PaymentIntent only Stripe knows of (found by the search on metadata.order_id) is canceled too', async () => {
    const mug = await givenProduct({ stock: 5 });
    const orderId = await givenPendingOrderWithoutPaymentIntent(mug.id, 1);
    const order = { id: orderId, paymentIntentId: 'pi_found_by_search', amountCents: 1999, currency: 'usd' };
    stripeHolds(order, 'requires_payment_method', { searchOnly: true });
    stripeCancels(order);

    const response = await postCancel(orderId);

    expect(response.statusCode).toBe(200);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledWith(
      'pi_found_by_search',
      { cancellation_reason: 'requested_by_customer' },
      { idempotencyKey: `order-${orderId}-cancel` },
    );
    expect(await orderRow(orderId)).toMatchObject({ status: 'canceled' });
  });

  test('payment processing at Stripe: 409 order_not_cancelable, Stripe not asked to cancel, nothing changes', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    stripeHolds(order, 'processing');
    const before = await orderRow(order.id);

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'order_not_cancelable', orderId: order.id, status: 'pending' });
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', locked_until: null, cancel_reason: null });
    expect((await orderRow(order.id))?.payment_intent_id).toBe(before?.payment_intent_id);
    expect(await heldOf(mug.id)).toBe(2);
    expect((await historyOf(order.id)).map((e) => e.type)).not.toContain('canceled');
    expect(await outboxOf(order.id)).toEqual([]);
  });

  test('Stripe unreachable: 503 payment_provider_unavailable, nothing changes and the order is free for the retry', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    mockPaymentIntentsRetrieve.mockRejectedValueOnce(connectionError());

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(503);
    expect(response.body.error.code).toBe('payment_provider_unavailable');
    expect(response.headers['Retry-After']).toBeDefined();
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', locked_until: null });
    expect(await heldOf(mug.id)).toBe(2);
    expect(await outboxOf(order.id)).toEqual([]);

    // The retry cancels it.
    stripeHolds(order, 'requires_action');
    stripeCancels(order);
    expect((await postCancel(order.id)).statusCode).toBe(200);
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
  });

  test('while create-order is still charging it (its lease is live): 409 order_not_cancelable with Retry-After, Stripe not asked; the charge then settles the order', async () => {
    // Prepare: the cancel arrives while create-order waits for Stripe's answer to its charge.
    const mug = await givenProduct({ stock: 5 });
    stripeAnswers('succeeded');
    const duringCharge = duringNextCharge((orderId) => postCancel(orderId));

    // Act
    const created = await postOrder(orderBody([{ productId: mug.id, quantity: 2 }]));

    // Assess: the cancel was refused, the payment went through as usual.
    const canceled = duringCharge();
    expect(canceled?.statusCode).toBe(409);
    expect(canceled?.body.error).toMatchObject({ code: 'order_not_cancelable', status: 'pending' });
    expect(canceled?.headers['Retry-After']).toBe('60');
    expect(mockPaymentIntentsRetrieve).not.toHaveBeenCalled();
    expect(mockPaymentIntentsSearch).not.toHaveBeenCalled();
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(created.statusCode).toBe(201);
    expect(await orderRow(created.body.order.id)).toMatchObject({ status: 'paid' });
    expect(await inventoryOf(mug.id)).toBe(3);
  });

  test('Stripe says the payment already succeeded: the order is paid first, then canceled as a paid order (refunded in full, stock back)', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    stripeHolds(order, 'succeeded');
    stripeRefusesCancel();
    stripeRefunds();

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(200);
    expect(response.body.order).toMatchObject({ id: order.id, status: 'canceled' });
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: order.paymentIntentId, amount: 3000 }),
      { idempotencyKey: expect.stringMatching(/^refund-/) },
    );
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
    expect(await refundRows(order.id)).toEqual([expect.objectContaining({ amount_cents: 3000, status: 'succeeded' })]);
    expect(await inventoryOf(mug.id)).toBe(5);
    expect(await heldOf(mug.id)).toBe(0);
    const history = await historyOf(order.id);
    expect(history).toContainEqual({ type: 'paid', source: 'operator' });
    expect(history).toContainEqual({ type: 'canceled', source: 'operator' });
    expect((await outboxOf(order.id)).map((r) => r.topic)).toEqual(
      expect.arrayContaining(['order.paid', 'order.canceled']),
    );
    await expectSellableExactly(mug.id, 5);
  });
});

describe('POST /orders/{orderId}/cancel: a paid order', () => {
  test('everything is refunded (one refund row, one Stripe refund), its stock given back in PostgreSQL and the Redis mirror, the order canceled', async () => {
    // Prepare
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);
    expect([await mirrorOf(mug.id), await mirrorOf(tee.id)]).toEqual([8, 4]);
    stripeRefunds();

    // Act
    const response = await postCancel(order.id, { reason: 'requested_by_customer' });

    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.body.order).toMatchObject({ id: order.id, status: 'canceled', amountCents: 5599 });
    const refunds = await refundRows(order.id);
    expect(refunds).toEqual([expect.objectContaining({ amount_cents: 5599, status: 'succeeded', source: 'operator' })]);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({
        payment_intent: order.paymentIntentId,
        amount: 5599,
        reason: 'requested_by_customer',
        metadata: expect.objectContaining({ order_id: order.id, refund_id: refunds[0]?.id }),
      }),
      { idempotencyKey: `refund-${refunds[0]?.id}` },
    );
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);
    // The mirror is dropped on a give-back (reloaded from PostgreSQL: the units counted once).
    expect([await mirrorOf(mug.id), await mirrorOf(tee.id)]).toEqual([null, null]);
    expect([await availableOf(mug.id), await availableOf(tee.id)]).toEqual([10, 5]);
    expect(await historyOf(order.id)).toContainEqual({ type: 'canceled', source: 'operator' });
    expect((await outboxOf(order.id)).map((r) => r.topic)).toContain('order.canceled');
    await expectSellableExactly(mug.id, 10);
    await expectSellableExactly(tee.id, 5);
  });

  test('partly refunded already: only the remainder is refunded, and only its stock comes back', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    expect((await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] })).statusCode).toBe(201);
    expect(await inventoryOf(mug.id)).toBe(8);
    mockRefundsCreate.mockClear();

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(200);
    expect(response.body.order.status).toBe('canceled');
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: order.paymentIntentId, amount: 3000 }),
      expect.anything(),
    );
    expect((await refundRows(order.id)).map((r) => r.amount_cents).sort()).toEqual([1500, 3000]);
    expect(await inventoryOf(mug.id)).toBe(10);
    expect(await availableOf(mug.id)).toBe(10);
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
  });

  test('Stripe takes the refund but has not finished it: 202, the order stays paid with its cancel requested until Stripe confirms', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string }) => ({
      ...stripeRefund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent }),
      status: 'pending',
    }));

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(202);
    expect(response.body.order).toMatchObject({ id: order.id, status: 'paid' });
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_requested_at: expect.any(Date) });
    expect((await outboxOf(order.id)).map((r) => r.topic)).not.toContain('order.canceled');
  });

  test('Stripe refuses the refund for good: 409 refund_rejected, the order stays paid with its stock', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValue(invalidRequestError('charge_already_refunded', 'already refunded'));

    const response = await postCancel(order.id);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'refund_rejected', providerCode: 'charge_already_refunded' });
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    expect(await inventoryOf(mug.id)).toBe(8);
    expect((await outboxOf(order.id)).map((r) => r.topic)).not.toContain('order.canceled');
  });
});

describe('POST /orders/{orderId}/cancel: refused', () => {
  test.each([
    ['failed', async (productId: string) => givenDeclinedOrder([{ productId, quantity: 1 }])],
    [
      'refunded',
      async (productId: string) => {
        const order = await givenPaidOrder([{ productId, quantity: 1 }]);
        stripeRefunds();
        expect((await postRefund(order.id)).statusCode).toBe(201);
        return order.id;
      },
    ],
    [
      'canceled',
      async (productId: string) => {
        const order = await givenPendingOrder([{ productId, quantity: 1 }]);
        stripeHolds(order, 'requires_action');
        stripeCancels(order);
        expect((await postCancel(order.id)).statusCode).toBe(200);
        return order.id;
      },
    ],
  ])('a %s order: 409 order_not_cancelable with its status, nothing changes', async (status, given) => {
    const mug = await givenProduct({ stock: 5 });
    const orderId = await given(mug.id);
    const stock = await inventoryOf(mug.id);
    const events = await historyOf(orderId);
    mockPaymentIntentsCancel.mockClear();
    mockPaymentIntentsRetrieve.mockClear();
    mockRefundsCreate.mockClear();

    const response = await postCancel(orderId);

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'order_not_cancelable', orderId, status });
    expect(await orderRow(orderId)).toMatchObject({ status });
    expect(await inventoryOf(mug.id)).toBe(stock);
    expect(await historyOf(orderId)).toEqual(events);
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(mockPaymentIntentsRetrieve).not.toHaveBeenCalled();
    expect(mockRefundsCreate).not.toHaveBeenCalled();
  });

  test('404 order_not_found for an unknown order id, and for one that is not a UUID', async () => {
    for (const id of ['6a1f3c52-2b7e-4c1d-9f0e-8d4b5a6c7e8f', 'not-a-uuid']) {
      const response = await postCancel(id);
      expect({ id, statusCode: response.statusCode, code: response.body.error.code }).toEqual({
        id,
        statusCode: 404,
        code: 'order_not_found',
      });
    }
  });

  test("400 invalid_request for a reason outside the list (abandoned is the scheduler's), another field or bad JSON; nothing changes", async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    const cases: [string, Parameters<typeof postCancel>[1], Parameters<typeof postCancel>[2]][] = [
      ['unknown reason', { reason: 'changed_my_mind' }, {}],
      ['abandoned', { reason: 'abandoned' }, {}],
      ['another field', { reason: 'duplicate', refund: false }, {}],
      ['not JSON', undefined, { rawBody: '{"reason":' }],
    ];
    for (const [label, body, o] of cases) {
      const response = await postCancel(order.id, body, o);
      expect({ label, statusCode: response.statusCode, code: response.body.error.code }).toEqual({
        label,
        statusCode: 400,
        code: 'invalid_request',
      });
    }
    expect(mockPaymentIntentsRetrieve).not.toHaveBeenCalled();
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', locked_until: null });
  });
});

describe('POST /orders/{orderId}/cancel: Idempotency-Key', () => {
  test('the same key replays the answer without asking Stripe again; another body under it gets 422', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    stripeHolds(order, 'requires_action');
    stripeCancels(order);

    const first = await postCancel(order.id, { reason: 'duplicate' }, { idempotencyKey: 'cancel-1' });
    const replay = await postCancel(order.id, { reason: 'duplicate' }, { idempotencyKey: 'cancel-1' });
    const other = await postCancel(order.id, { reason: 'fraudulent' }, { idempotencyKey: 'cancel-1' });

    expect(first.statusCode).toBe(200);
    expect(replay.statusCode).toBe(200);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['Idempotent-Replayed']).toBe('true');
    expect(first.headers['Idempotent-Replayed']).toBeUndefined();
    expect(other.statusCode).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_mismatch');
    expect(mockPaymentIntentsCancel).toHaveBeenCalledTimes(1);
    expect((await historyOf(order.id)).filter((e) => e.type === 'canceled')).toHaveLength(1);
    // The key is the order's own (spelled in lower case, like a refund's).
    expect(await redis().exists(keys.cancelIdempotency(order.id, 'cancel-1'))).toBe(1);
  });

  test('an order id sent in upper case is the same order, under the same key', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    stripeHolds(order, 'requires_action');
    stripeCancels(order);

    const upper = await postCancel(order.id.toUpperCase(), {}, { idempotencyKey: 'k' });
    const lower = await postCancel(order.id, {}, { idempotencyKey: 'k' });

    expect(upper.statusCode).toBe(200);
    expect(upper.body.order.id).toBe(order.id);
    expect(lower.headers['Idempotent-Replayed']).toBe('true');
    expect(mockPaymentIntentsCancel).toHaveBeenCalledWith(order.paymentIntentId, expect.anything(), {
      idempotencyKey: `order-${order.id}-cancel`,
    });
  });
});
