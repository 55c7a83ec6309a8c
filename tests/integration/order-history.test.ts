import { loadStockMirror } from '../../lib/inventory/stock';
import { keys } from '../../lib/keys';
import { availableOf, givenProduct, heldOf, holdOf, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import {
  getOrder,
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  stripeAnswers,
  stripeDeclines,
  stripeRefunds,
} from '../helpers/orders';
import { paymentIntent, event as stripeEvent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsRetrieve } from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';

/**
 * The order's history (order_events) and its events for other systems (outbox), written with each
 * payment transition by whoever caused it: the API (create-order), Stripe's webhook (with its event
 * id). The refund rows' own history (refund_succeeded, ...) belongs to the refund tests.
 */

interface HistoryRow {
  type: string;
  source: string;
  stripe_event_id: string | null;
  data: Record<string, unknown>;
}

async function historyOf(orderId: string): Promise<HistoryRow[]> {
  const { rows } = await db().query<HistoryRow>(
    'SELECT type, source, stripe_event_id, data FROM order_events WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return rows;
}

async function outboxOf(orderId: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> {
  const { rows } = await db().query<{ topic: string; payload: Record<string, unknown> }>(
    'SELECT topic, payload FROM outbox WHERE order_id = $1 ORDER BY created_at, id',
    [orderId],
  );
  return rows;
}

/** The history rows of the payment transitions and of the order's creation, cancel and automatic refund. */
const OURS = new Set([
  'created',
  'payment_pending',
  'paid',
  'payment_failed',
  'out_of_stock_after_payment',
  'refund_requested',
  'canceled',
]);
const ours = (rows: HistoryRow[]) => rows.filter((r) => OURS.has(r.type));

const now = () => Math.floor(Date.now() / 1000);

describe('the history of a paid order', () => {
  test('created and paid, both by the API, with order.paid for other systems; GET shows them oldest first', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 10 });
    const items = [
      { productId: mug.id, quantity: 2, unitPriceCents: 1500 },
      { productId: tee.id, quantity: 1, unitPriceCents: 2599 },
    ].sort((a, b) => a.productId.localeCompare(b.productId));

    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);

    const paid = {
      amountCents: 5599,
      currency: 'usd',
      paymentIntentId: order.paymentIntentId,
      customerId: 'cus_1',
      items,
    };
    expect(await historyOf(order.id)).toEqual([
      {
        type: 'created',
        source: 'api',
        stripe_event_id: null,
        data: { amountCents: 5599, currency: 'usd', customerId: 'cus_1', items },
      },
      { type: 'paid', source: 'api', stripe_event_id: null, data: paid },
    ]);
    expect(await outboxOf(order.id)).toEqual([{ topic: 'order.paid', payload: paid }]);

    const response = await getOrder(order.id);
    expect(response.statusCode).toBe(200);
    expect(response.body.order.events).toEqual([
      {
        type: 'created',
        source: 'api',
        at: expect.any(String),
        amountCents: 5599,
        currency: 'usd',
        customerId: 'cus_1',
        items,
      },
      { type: 'paid', source: 'api', at: expect.any(String), ...paid },
    ]);
    const [created, paidAt] = response.body.order.events.map((e: { at: string }) => Date.parse(e.at));
    expect(created).toBeLessThanOrEqual(paidAt);
  });

  test('a one-line order paid at once writes its history through the one-row confirm too', async () => {
    const product = await givenProduct({ priceCents: 700, stock: 3 });

    const order = await givenPaidOrder([{ productId: product.id, quantity: 3 }]);

    expect((await historyOf(order.id)).map((h) => [h.type, h.source])).toEqual([
      ['created', 'api'],
      ['paid', 'api'],
    ]);
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'order.paid',
        payload: {
          amountCents: 2100,
          currency: 'usd',
          paymentIntentId: order.paymentIntentId,
          customerId: 'cus_1',
          items: [{ productId: product.id, quantity: 3, unitPriceCents: 700 }],
        },
      },
    ]);
  });

  test('a paid order still costs 2 PostgreSQL statements: its history and outbox ride in them', async () => {
    const mug = await givenProduct({ stock: 10 });
    const tee = await givenProduct({ stock: 10 });
    // The stock mirror loaded, as it is but for a product's first order within the hour.
    await loadStockMirror(db(), redis(), [mug.id, tee.id]);
    stripeAnswers('succeeded');
    const query = jest.spyOn(db(), 'query');
    const transaction = jest.spyOn(db(), 'transaction');

    const response = await postOrder(
      orderBody([
        { productId: mug.id, quantity: 1 },
        { productId: tee.id, quantity: 1 },
      ]),
    );

    // priceAndInsertOrder (order, lines, 'created') and payPending (stock, paid, 'paid', order.paid).
    expect({
      status: response.statusCode,
      statements: query.mock.calls.length,
      transactions: transaction.mock.calls.length,
    }).toEqual({
      status: 201,
      statements: 2,
      transactions: 0,
    });
    query.mockRestore();
    transaction.mockRestore();
    expect((await historyOf(response.body.order.id)).map((h) => h.type)).toEqual(['created', 'paid']);
  });

  test('a success applied again (a newer event for the paid order) writes no second paid, nor a second order.paid', async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);

    const again = await deliver(paymentEvent('payment_intent.succeeded', order, { created: now() + 5 }).payload);

    expect(again.statusCode).toBe(200);
    expect((await historyOf(order.id)).map((h) => h.type)).toEqual(['created', 'paid']);
    expect((await outboxOf(order.id)).map((o) => o.topic)).toEqual(['order.paid']);
  });
});

describe('the history of an order that is not paid at once', () => {
  test('declined: created, then payment_failed by the API with its codes, and order.payment_failed', async () => {
    const product = await givenProduct({ priceCents: 1200, stock: 5 });
    stripeDeclines('insufficient_funds');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }], 'pm_card_chargeDeclined'));

    expect(response.statusCode).toBe(402);
    const orderId = response.body.error.orderId as string;
    const { payment_intent_id: paymentIntentId } = (await orderRow(orderId)) as { payment_intent_id: string };
    const failure = {
      failureCode: 'payment_declined',
      declineCode: 'insufficient_funds',
      paymentIntentId,
      amountCents: 1200,
      currency: 'usd',
      customerId: 'cus_1',
      previousStatus: 'pending',
    };
    expect(
      (await historyOf(orderId)).map(({ type, source, stripe_event_id, data }) => ({
        type,
        source,
        stripe_event_id,
        data,
      })),
    ).toEqual([
      expect.objectContaining({ type: 'created', source: 'api' }),
      { type: 'payment_failed', source: 'api', stripe_event_id: null, data: failure },
    ]);
    expect(await outboxOf(orderId)).toEqual([{ topic: 'order.payment_failed', payload: failure }]);
  });

  test('not enough stock to hold: payment_failed with insufficient_inventory and the product', async () => {
    const product = await givenProduct({ stock: 1 });
    stripeAnswers('succeeded');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]));

    expect(response.statusCode).toBe(409);
    const orderId = response.body.error.orderId as string;
    expect(ours(await historyOf(orderId)).map((h) => [h.type, h.source, h.data.failureCode, h.data.productId])).toEqual(
      [
        ['created', 'api', undefined, undefined],
        ['payment_failed', 'api', 'insufficient_inventory', product.id],
      ],
    );
    expect((await outboxOf(orderId)).map((o) => [o.topic, o.payload.failureCode])).toEqual([
      ['order.payment_failed', 'insufficient_inventory'],
    ]);
  });

  test('3-D Secure: payment_pending once, even when a retry finds the payment still waiting', async () => {
    const product = await givenProduct({ stock: 5 });
    stripeAnswers('requires_action');
    const key = 'history-3ds-retry';
    const first = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: key });
    expect(first.statusCode).toBe(202);
    const order = first.body.order as { id: string; paymentIntentId: string; amountCents: number };
    // Redis lost the stored answer: the retry resumes the order and asks Stripe, which says it still waits.
    await redis().del(keys.idempotency(key));
    mockPaymentIntentsRetrieve.mockResolvedValue(
      paymentIntent({
        id: order.paymentIntentId,
        status: 'requires_action',
        amount: order.amountCents,
        currency: 'usd',
        orderId: order.id,
      }),
    );

    const retry = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: key });

    expect(retry.statusCode).toBe(202);
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledTimes(1);
    expect(await historyOf(order.id)).toEqual([
      expect.objectContaining({ type: 'created', source: 'api' }),
      {
        type: 'payment_pending',
        source: 'api',
        stripe_event_id: null,
        data: { paymentIntentId: order.paymentIntentId, paymentStatus: 'requires_action' },
      },
    ]);
    expect(await outboxOf(order.id)).toEqual([]);
  });

  test('paid by the webhook: paid with source webhook and the Stripe event id', async () => {
    const product = await givenProduct({ priceCents: 800, stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    const { event, payload } = paymentEvent('payment_intent.succeeded', order);

    const response = await deliver(payload);

    expect(response.statusCode).toBe(200);
    const paid = {
      amountCents: 1600,
      currency: 'usd',
      paymentIntentId: order.paymentIntentId,
      customerId: 'cus_1',
      items: [{ productId: product.id, quantity: 2, unitPriceCents: 800 }],
    };
    expect((await historyOf(order.id)).map((h) => [h.type, h.source, h.stripe_event_id])).toEqual([
      ['created', 'api', null],
      ['payment_pending', 'api', null],
      ['paid', 'webhook', event.id],
    ]);
    expect((await historyOf(order.id))[2]?.data).toEqual(paid);
    expect(await outboxOf(order.id)).toEqual([{ topic: 'order.paid', payload: paid }]);
    const shown = await getOrder(order.id);
    expect(shown.body.order.events[2]).toEqual({
      type: 'paid',
      source: 'webhook',
      stripeEventId: event.id,
      at: expect.any(String),
      ...paid,
    });
    expect(shown.body.order.events[0]).not.toHaveProperty('stripeEventId');
  });

  test("a paid order's failure on Stripe's word: payment_failed says it was paid and which stock went back", async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPaidOrder([{ productId: product.id, quantity: 2 }]);
    mockPaymentIntentsRetrieve.mockResolvedValue(
      paymentIntent({
        id: order.paymentIntentId,
        status: 'requires_payment_method',
        amount: order.amountCents,
        currency: 'usd',
        orderId: order.id,
        declineCode: 'insufficient_funds',
      }),
    );
    const { event, payload } = paymentEvent('payment_intent.payment_failed', order, { created: now() + 5 });

    await deliver(payload);

    expect(await inventoryOf(product.id)).toBe(5);
    const failure = (await historyOf(order.id)).find((h) => h.type === 'payment_failed');
    expect(failure).toEqual({
      type: 'payment_failed',
      source: 'webhook',
      stripe_event_id: event.id,
      data: expect.objectContaining({
        previousStatus: 'paid',
        stockGivenBack: [{ productId: product.id, quantity: 2 }],
        failureCode: 'payment_declined',
      }),
    });
    expect((await outboxOf(order.id)).map((o) => [o.topic, o.payload.previousStatus])).toEqual([
      ['order.paid', undefined],
      ['order.payment_failed', 'paid'],
    ]);
  });

  test('out of stock after payment: the failure and its automatic refund, by the webhook', async () => {
    const product = await givenProduct({ priceCents: 900, stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    // The hold expired and the stock was sold meanwhile.
    await db().query('UPDATE inventory SET quantity = 1 WHERE product_id = $1', [product.id]);
    stripeRefunds();
    const { event, payload } = paymentEvent('payment_intent.succeeded', order);

    const response = await deliver(payload);

    expect(response.statusCode).toBe(200);
    expect(await orderRow(order.id)).toMatchObject({ status: 'failed', failure_code: 'out_of_stock_after_payment' });
    const { rows: refunds } = await db().query<{ id: string; source: string; amount_cents: number }>(
      'SELECT id, source, amount_cents FROM refunds WHERE order_id = $1',
      [order.id],
    );
    expect(refunds).toEqual([{ id: expect.any(String), source: 'webhook', amount_cents: 1800 }]);
    expect(ours(await historyOf(order.id))).toEqual([
      expect.objectContaining({ type: 'created' }),
      expect.objectContaining({ type: 'payment_pending' }),
      {
        type: 'out_of_stock_after_payment',
        source: 'webhook',
        stripe_event_id: event.id,
        data: {
          failureCode: 'out_of_stock_after_payment',
          productId: product.id,
          paymentIntentId: order.paymentIntentId,
          amountCents: 1800,
          currency: 'usd',
        },
      },
      {
        type: 'refund_requested',
        source: 'webhook',
        stripe_event_id: event.id,
        data: {
          refundId: refunds[0]?.id,
          amountCents: 1800,
          currency: 'usd',
          reason: 'out_of_stock_after_payment',
          items: [],
        },
      },
    ]);
    const failed = (await outboxOf(order.id)).filter((o) => o.topic === 'order.payment_failed');
    expect(failed).toEqual([
      {
        topic: 'order.payment_failed',
        payload: {
          failureCode: 'out_of_stock_after_payment',
          declineCode: null,
          productId: product.id,
          paymentIntentId: order.paymentIntentId,
          amountCents: 1800,
          currency: 'usd',
          customerId: 'cus_1',
          refundId: refunds[0]?.id,
        },
      },
    ]);
    expect((await outboxOf(order.id)).map((o) => o.topic)).not.toContain('order.paid');
  });
});

/** payment_intent.canceled as Stripe sends it, for an order's PaymentIntent. */
function canceledEvent(
  order: { id: string; paymentIntentId: string; amountCents: number; currency: string },
  reason: string | null,
) {
  const intent = {
    ...paymentIntent({
      id: order.paymentIntentId,
      status: 'canceled',
      amount: order.amountCents,
      currency: order.currency,
      orderId: order.id,
    }),
    cancellation_reason: reason,
    canceled_at: now(),
  };
  const event = stripeEvent('payment_intent.canceled', intent as unknown as { id: string; object: string });
  return { event, payload: JSON.stringify(event) };
}

describe('payment_intent.canceled', () => {
  test('a pending order becomes canceled: its hold released at once, history and order.canceled by the webhook', async () => {
    const product = await givenProduct({ priceCents: 500, stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    expect(await availableOf(product.id)).toBe(3);
    const { event, payload } = canceledEvent(order, 'requested_by_customer');

    const response = await deliver(payload);

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({ received: true });
    expect(await orderRow(order.id)).toMatchObject({
      status: 'canceled',
      cancel_reason: 'requested_by_customer',
      last_event_created: String(event.created),
    });
    expect(await redis().exists(keys.reservation(order.id))).toBe(0);
    expect(await holdOf(order.id)).toEqual({});
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(5);
    expect(await inventoryOf(product.id)).toBe(5);
    expect((await historyOf(order.id)).at(-1)).toEqual({
      type: 'canceled',
      source: 'webhook',
      stripe_event_id: event.id,
      data: { reason: 'requested_by_customer', amountCents: 1000, currency: 'usd' },
    });
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'order.canceled',
        payload: { reason: 'requested_by_customer', amountCents: 1000, currency: 'usd', refundedCents: 0 },
      },
    ]);
  });

  test("a cancellation without Stripe's reason is recorded as canceled_at_stripe", async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);

    await deliver(canceledEvent(order, null).payload);

    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled', cancel_reason: 'canceled_at_stripe' });
  });

  test('a paid order is left as it is: status, stock, history', async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPaidOrder([{ productId: product.id, quantity: 2 }]);

    const response = await deliver(canceledEvent(order, 'abandoned').payload);

    expect(response.statusCode).toBe(200);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_reason: null });
    expect(await inventoryOf(product.id)).toBe(3);
    expect(await availableOf(product.id)).toBe(3);
    expect((await historyOf(order.id)).map((h) => h.type)).toEqual(['created', 'paid']);
    expect((await outboxOf(order.id)).map((o) => o.topic)).toEqual(['order.paid']);
  });

  test('a malformed PaymentIntent gets 400 invalid_request; nothing changes, nothing is marked', async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    const { event } = canceledEvent(order, 'duplicate');
    const object = event.data.object as unknown as Record<string, unknown>;

    const noId = await deliver(JSON.stringify({ ...event, data: { object: { ...object, id: undefined } } }));
    const badReason = await deliver(
      JSON.stringify({ ...event, data: { object: { ...object, cancellation_reason: 7 } } }),
    );

    for (const response of [noId, badReason]) {
      expect(response.statusCode).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
    }
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
    expect(await holdOf(order.id)).toEqual({ [product.id]: '2' });
    expect(await redis().keys('stripe:event:*')).toEqual([]);
  });
});
