import type Stripe from 'stripe';
import chargeFixture from '../../fixtures/stripe/charge.json';
import { keys } from '../../lib/keys';
import { availableOf, givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import { expectSellableExactly, givenPaidOrder, postRefund, stripeRefunds } from '../helpers/orders';
import { paymentIntent, event as stripeEvent, refund as stripeRefund } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsRetrieve, mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';

/**
 * Stripe's later word on a refund (refund.created / refund.updated / refund.failed /
 * charge.refund.updated with a Refund, charge.refunded with the Charge): our refunds row follows it,
 * money not returned is owed again, stock is never given back twice, and refunds made in the Stripe
 * dashboard are recorded as money-only refunds.
 */

const now = () => Math.floor(Date.now() / 1000);

type PaidOrder = Awaited<ReturnType<typeof givenPaidOrder>>;

/** A Stripe Refund on the order's PaymentIntent, as its webhooks carry it. */
function refundObject(
  order: PaidOrder,
  o: {
    amount: number;
    status: 'pending' | 'requires_action' | 'succeeded' | 'failed' | 'canceled';
    id?: string;
    metadata?: Record<string, string>;
    failureReason?: string | null;
  },
): Stripe.Refund {
  const base = stripeRefund({
    amount: o.amount,
    currency: 'usd',
    paymentIntentId: order.paymentIntentId,
    metadata: o.metadata,
  });
  return { ...base, id: o.id ?? base.id, status: o.status, failure_reason: (o.failureReason ?? null) as never };
}

function refundEvent(type: string, object: { id: string; object: string }, o: { created?: number } = {}) {
  const event = stripeEvent(type, object, o);
  return { event, payload: JSON.stringify(event) };
}

/** charge.refunded: the PaymentIntent's Charge, its refunds listed (or, in newer API versions, not). */
function chargeRefunded(
  order: PaidOrder,
  refunds: Stripe.Refund[] | null,
  amountRefunded: number,
  o: { created?: number } = {},
) {
  const charge = {
    ...chargeFixture,
    id: `ch_${order.paymentIntentId.slice(3)}`,
    amount: order.amountCents,
    amount_captured: order.amountCents,
    amount_refunded: amountRefunded,
    captured: true,
    payment_intent: order.paymentIntentId,
    refunded: amountRefunded >= order.amountCents,
    refunds: refunds === null ? undefined : { object: 'list', data: refunds, has_more: false, url: '/v1/refunds' },
  };
  return refundEvent('charge.refunded', charge, o);
}

/** Stripe takes every refund but has not finished it (status pending), echoing what it was sent. */
function stripeRefundsPending(): void {
  mockRefundsCreate.mockImplementation(
    async (params: { amount: number; payment_intent: string; metadata?: Record<string, string> }) => ({
      ...stripeRefund({
        amount: params.amount,
        currency: 'usd',
        paymentIntentId: params.payment_intent,
        metadata: params.metadata,
      }),
      status: 'pending',
    }),
  );
}

async function refundRows(orderId: string) {
  const { rows } = await db().query<{
    id: string;
    status: string;
    amount_cents: number;
    stripe_refund_id: string | null;
    failure_reason: string | null;
    source: string;
    last_event_created: string | null;
    items: number;
  }>(
    `SELECT r.id, r.status, r.amount_cents, r.stripe_refund_id, r.failure_reason, r.source, r.last_event_created,
            (SELECT count(*)::int FROM refund_items ri WHERE ri.refund_id = r.id) AS items
       FROM refunds r WHERE r.order_id = $1 ORDER BY r.created_at`,
    [orderId],
  );
  return rows;
}

async function linesOf(orderId: string) {
  const { rows } = await db().query<{ product_id: string; refunded_quantity: number; restocked_quantity: number }>(
    'SELECT product_id, refunded_quantity, restocked_quantity FROM order_items WHERE order_id = $1 ORDER BY product_id',
    [orderId],
  );
  return rows;
}

async function historyOf(
  orderId: string,
  types = ['refund_requested', 'refund_succeeded', 'refund_failed', 'canceled'],
) {
  const { rows } = await db().query<{
    type: string;
    source: string;
    stripe_event_id: string | null;
    data: Record<string, unknown>;
  }>(
    'SELECT type, source, stripe_event_id, data FROM order_events WHERE order_id = $1 AND type = ANY($2) ORDER BY id',
    [orderId, types],
  );
  return rows;
}

async function outboxOf(orderId: string) {
  const { rows } = await db().query<{ topic: string; payload: Record<string, unknown> }>(
    `SELECT topic, payload FROM outbox WHERE order_id = $1 AND topic IN ('order.refunded', 'refund.failed', 'order.canceled')
      ORDER BY created_at, id`,
    [orderId],
  );
  return rows;
}

describe('refund events from Stripe', () => {
  test('a refund Stripe holds as pending is not sent again, and refund.updated succeeded completes it: stock back once, order refunded', async () => {
    // Prepare: Stripe answers the refund "pending" (the bank has not confirmed yet).
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefundsPending();
    const sent = await postRefund(order.id, { reason: 'requested_by_customer' });
    expect(sent.statusCode).toBe(201);
    expect(sent.body).toMatchObject({
      refund: { status: 'pending', stripeRefundId: expect.stringMatching(/^re_/) },
      order: { id: order.id, status: 'paid' },
    });
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: order.paymentIntentId,
        amount: 2000,
        reason: 'requested_by_customer',
        metadata: { order_id: order.id, refund_id: sent.body.refund.id },
      },
      { idempotencyKey: `refund-${sent.body.refund.id}` },
    );
    expect(await inventoryOf(mug.id)).toBe(8);
    // The next request on the order does not resend a refund Stripe already holds.
    expect((await postRefund(order.id)).statusCode).toBe(409);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);

    // Act
    const succeeded = refundObject(order, {
      id: sent.body.refund.stripeRefundId,
      amount: 2000,
      status: 'succeeded',
      metadata: { order_id: order.id, refund_id: sent.body.refund.id },
    });
    const { event, payload } = refundEvent('refund.updated', succeeded);
    const response = await deliver(payload);
    const again = await deliver(refundEvent('charge.refund.updated', succeeded).payload);

    // Assess
    expect([response.statusCode, again.statusCode]).toEqual([200, 200]);
    expect(await refundRows(order.id)).toEqual([
      expect.objectContaining({
        id: sent.body.refund.id,
        status: 'succeeded',
        source: 'operator',
        stripe_refund_id: succeeded.id,
        last_event_created: String(event.created),
        items: 1,
      }),
    ]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'refunded' });
    expect(await linesOf(order.id)).toEqual([{ product_id: mug.id, refunded_quantity: 2, restocked_quantity: 2 }]);
    expect(await historyOf(order.id)).toEqual([
      {
        type: 'refund_requested',
        source: 'operator',
        stripe_event_id: null,
        data: expect.objectContaining({ refundId: sent.body.refund.id, amountCents: 2000, source: 'operator' }),
      },
      {
        type: 'refund_succeeded',
        source: 'webhook',
        stripe_event_id: event.id,
        data: expect.objectContaining({
          refundId: sent.body.refund.id,
          stripeRefundId: succeeded.id,
          restocked: [{ productId: mug.id, quantity: 2 }],
          orderStatus: 'refunded',
        }),
      },
    ]);
    expect(await outboxOf(order.id)).toEqual([
      { topic: 'order.refunded', payload: { refundedCents: 2000, amountCents: 2000, currency: 'usd' } },
    ]);
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test("refund.created arriving while the refund route waits for Stripe's answer completes the refund; the answer then changes nothing: stock back once", async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    let webhook: number | undefined;
    mockRefundsCreate.mockImplementationOnce(
      async (params: { amount: number; payment_intent: string; metadata: Record<string, string> }) => {
        const made = refundObject(order, { amount: params.amount, status: 'succeeded', metadata: params.metadata });
        webhook = (await deliver(refundEvent('refund.created', made).payload)).statusCode;
        return made;
      },
    );

    const response = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });

    expect(webhook).toBe(200);
    expect(response.statusCode).toBe(201);
    expect(response.body.refund).toMatchObject({ status: 'succeeded', amountCents: 1000 });
    expect((await historyOf(order.id)).map((h) => [h.type, h.source])).toEqual([
      ['refund_requested', 'operator'],
      ['refund_succeeded', 'webhook'],
    ]);
    expect(await linesOf(order.id)).toEqual([{ product_id: mug.id, refunded_quantity: 1, restocked_quantity: 1 }]);
    expect(await inventoryOf(mug.id)).toBe(9);
    await expectSellableExactly(mug.id, 9);
  });

  test('a refund that succeeded and later failed: money owed again, the order paid again; a new refund refunds it and gives back no stock twice', async () => {
    // Prepare: a full refund, confirmed at once: stock back, order refunded.
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const tee = await givenProduct({ priceCents: 500, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();
    const first = await postRefund(order.id);
    expect(first.body.order.status).toBe('refunded');
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);

    // Act 1: the card was closed; Stripe reports the refund failed.
    const failed = refundObject(order, {
      id: first.body.refund.stripeRefundId,
      amount: 2500,
      status: 'failed',
      failureReason: 'expired_or_canceled_card',
      metadata: { order_id: order.id, refund_id: first.body.refund.id },
    });
    const { event, payload } = refundEvent('refund.failed', failed);
    expect((await deliver(payload)).statusCode).toBe(200);

    // Assess 1: owed again, the stock given back stays given back.
    expect(await refundRows(order.id)).toEqual([
      expect.objectContaining({ status: 'failed', failure_reason: 'expired_or_canceled_card' }),
    ]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    expect(await linesOf(order.id)).toEqual(
      [
        { product_id: mug.id, refunded_quantity: 0, restocked_quantity: 2 },
        { product_id: tee.id, refunded_quantity: 0, restocked_quantity: 1 },
      ].sort((a, b) => a.product_id.localeCompare(b.product_id)),
    );
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);
    expect((await historyOf(order.id)).at(-1)).toEqual({
      type: 'refund_failed',
      source: 'webhook',
      stripe_event_id: event.id,
      data: expect.objectContaining({
        refundId: first.body.refund.id,
        failureReason: 'expired_or_canceled_card',
        previousStatus: 'succeeded',
        orderStatus: 'paid',
        previousOrderStatus: 'refunded',
      }),
    });

    // Act 2: the operator refunds again (another way to reach the customer's money).
    mockRefundsCreate.mockClear();
    const second = await postRefund(order.id);

    // Assess 2: Stripe is asked for the whole amount again, under the new row's key; no stock moves.
    expect(second.statusCode).toBe(201);
    expect(second.body.order.status).toBe('refunded');
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: order.paymentIntentId,
        amount: 2500,
        metadata: { order_id: order.id, refund_id: second.body.refund.id },
      },
      { idempotencyKey: `refund-${second.body.refund.id}` },
    );
    expect(await outboxOf(order.id)).toEqual([
      { topic: 'order.refunded', payload: { refundedCents: 2500, amountCents: 2500, currency: 'usd' } },
      {
        topic: 'refund.failed',
        payload: {
          refundId: first.body.refund.id,
          stripeRefundId: failed.id,
          amountCents: 2500,
          currency: 'usd',
          failureReason: 'expired_or_canceled_card',
          refundedCents: 0,
        },
      },
      { topic: 'order.refunded', payload: { refundedCents: 2500, amountCents: 2500, currency: 'usd' } },
    ]);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);
    expect([await availableOf(mug.id), await availableOf(tee.id)]).toEqual([10, 5]);
    await expectSellableExactly(mug.id, 10);
    await expectSellableExactly(tee.id, 5);
  });

  test('a paid order whose refund succeeded and then failed, then leaving paid (Stripe says the payment did not succeed): the units already given back are not given back again', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const refunded = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    expect(refunded.statusCode).toBe(201);
    const failed = refundObject(order, {
      id: refunded.body.refund.stripeRefundId,
      amount: 1000,
      status: 'failed',
      failureReason: 'expired_or_canceled_card',
      metadata: { order_id: order.id, refund_id: refunded.body.refund.id },
    });
    expect((await deliver(refundEvent('refund.failed', failed).payload)).statusCode).toBe(200);
    expect(await inventoryOf(mug.id)).toBe(8); // 3 sold, 1 given back and kept given back

    // A newer payment_failed; Stripe, asked, says the PaymentIntent did not succeed.
    mockPaymentIntentsRetrieve.mockResolvedValue(
      paymentIntent({
        id: order.paymentIntentId,
        status: 'requires_payment_method',
        amount: order.amountCents,
        currency: order.currency,
        orderId: order.id,
      }),
    );
    const { payload } = paymentEvent('payment_intent.payment_failed', order, { created: now() + 60 });
    expect((await deliver(payload)).statusCode).toBe(200);

    expect(await orderRow(order.id)).toMatchObject({ status: 'failed' });
    // 10, not 11: the unit the failed refund gave back is not given back a second time.
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test('after a partial refund failed, refunding more units gives back only the units never given back', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const first = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    expect(await inventoryOf(mug.id)).toBe(8);
    const failed = refundObject(order, {
      id: first.body.refund.stripeRefundId,
      amount: 1000,
      status: 'failed',
      failureReason: 'lost_or_stolen_card',
      metadata: { order_id: order.id, refund_id: first.body.refund.id },
    });
    expect((await deliver(refundEvent('charge.refund.updated', failed).payload)).statusCode).toBe(200);

    const second = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });

    expect(second.statusCode).toBe(201);
    expect(second.body.order.status).toBe('paid');
    // 2 units refunded now; 1 of them came back with the failed refund already.
    expect(await linesOf(order.id)).toEqual([{ product_id: mug.id, refunded_quantity: 2, restocked_quantity: 2 }]);
    expect(await inventoryOf(mug.id)).toBe(9);
    await expectSellableExactly(mug.id, 9);
  });

  test('refund.updated canceled for a refund pending at Stripe: no money returned, no stock moved, the units can be refunded again', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefundsPending();
    const pending = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    expect(pending.body.refund.status).toBe('pending');

    const canceled = refundObject(order, {
      id: pending.body.refund.stripeRefundId,
      amount: 1000,
      status: 'canceled',
      metadata: { order_id: order.id, refund_id: pending.body.refund.id },
    });
    expect((await deliver(refundEvent('refund.updated', canceled).payload)).statusCode).toBe(200);

    expect(await refundRows(order.id)).toEqual([expect.objectContaining({ status: 'canceled' })]);
    expect(await linesOf(order.id)).toEqual([{ product_id: mug.id, refunded_quantity: 0, restocked_quantity: 0 }]);
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'refund.failed',
        payload: expect.objectContaining({
          refundId: pending.body.refund.id,
          amountCents: 1000,
          failureReason: 'canceled',
        }),
      },
    ]);
    expect(await inventoryOf(mug.id)).toBe(8);
    stripeRefunds();
    const again = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });
    expect(again.statusCode).toBe(201);
    expect(again.body.order.status).toBe('refunded');
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  describe('a refund made in the Stripe dashboard', () => {
    /** 3 mugs at 10.00; then 10.00 refunded in the dashboard (no metadata of ours). */
    async function givenDashboardRefund() {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
      const dashboard = refundObject(order, { amount: 1000, status: 'succeeded' });
      const { event, payload } = refundEvent('refund.created', dashboard);
      expect((await deliver(payload)).statusCode).toBe(200);
      return { mug, order, dashboard, event };
    }

    test('is recorded as a money-only refund: no stock moves, the order stays paid, the same refund in charge.refunded is not counted twice', async () => {
      const { mug, order, dashboard, event } = await givenDashboardRefund();
      expect((await deliver(chargeRefunded(order, [dashboard], 1000).payload)).statusCode).toBe(200);

      expect(await refundRows(order.id)).toEqual([
        expect.objectContaining({
          status: 'succeeded',
          amount_cents: 1000,
          stripe_refund_id: dashboard.id,
          source: 'stripe_dashboard',
          items: 0,
        }),
      ]);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await linesOf(order.id)).toEqual([{ product_id: mug.id, refunded_quantity: 0, restocked_quantity: 0 }]);
      expect((await historyOf(order.id)).map((h) => [h.type, h.source, h.stripe_event_id])).toEqual([
        ['refund_requested', 'webhook', event.id],
        ['refund_succeeded', 'webhook', event.id],
      ]);
      expect(await inventoryOf(mug.id)).toBe(7);
      await expectSellableExactly(mug.id, 7);
    });

    test('counts against what is left: items worth more are refused (422 refund_amount_exceeded), Stripe not asked; the order is refunded when no money is left', async () => {
      const { mug, order } = await givenDashboardRefund();
      stripeRefunds();

      const refused = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 3 }] });
      const served = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });

      expect(refused.statusCode).toBe(422);
      expect(refused.body.error).toMatchObject({
        code: 'refund_amount_exceeded',
        orderId: order.id,
        requestedCents: 3000,
        refundableCents: 2000,
      });
      expect(served.statusCode).toBe(201);
      expect(served.body.order.status).toBe('refunded');
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      expect(mockRefundsCreate).toHaveBeenCalledWith(
        {
          payment_intent: order.paymentIntentId,
          amount: 2000,
          metadata: { order_id: order.id, refund_id: served.body.refund.id },
        },
        { idempotencyKey: `refund-${served.body.refund.id}` },
      );
      expect((await refundRows(order.id)).map((r) => [r.source, r.amount_cents, r.status])).toEqual([
        ['stripe_dashboard', 1000, 'succeeded'],
        ['operator', 2000, 'succeeded'],
      ]);
      expect(await outboxOf(order.id)).toEqual([
        { topic: 'order.refunded', payload: { refundedCents: 3000, amountCents: 3000, currency: 'usd' } },
      ]);
      // The 2 units refunded came back; the dashboard's money-only refund moved none.
      expect(await inventoryOf(mug.id)).toBe(9);
      await expectSellableExactly(mug.id, 9);
    });

    test('"refund everything" asks Stripe for what is left, with every unit not yet refunded', async () => {
      const { mug, order } = await givenDashboardRefund();
      stripeRefunds();

      const response = await postRefund(order.id);

      expect(response.statusCode).toBe(201);
      expect(response.body.refund).toMatchObject({
        amountCents: 2000,
        items: [{ productId: mug.id, quantity: 3, amountCents: 3000 }],
      });
      expect(response.body.order.status).toBe('refunded');
      expect(mockRefundsCreate).toHaveBeenCalledWith(expect.objectContaining({ amount: 2000 }), {
        idempotencyKey: `refund-${response.body.refund.id}`,
      });
      expect(await inventoryOf(mug.id)).toBe(10);
      await expectSellableExactly(mug.id, 10);
    });

    test('a dashboard refund of the whole amount ends the order refunded, with no stock moved', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      const whole = refundObject(order, { amount: 2000, status: 'succeeded' });

      expect((await deliver(chargeRefunded(order, [whole], 2000).payload)).statusCode).toBe(200);

      expect(await orderRow(order.id)).toMatchObject({ status: 'refunded' });
      expect(await outboxOf(order.id)).toEqual([
        { topic: 'order.refunded', payload: { refundedCents: 2000, amountCents: 2000, currency: 'usd' } },
      ]);
      expect((await postRefund(order.id)).body.error.code).toBe('order_not_refundable');
      expect(await inventoryOf(mug.id)).toBe(8);
    });
  });

  test('charge.refunded listing our refund Stripe held as pending completes it; one without its refunds list changes nothing', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefundsPending();
    const sent = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    const done = refundObject(order, {
      id: sent.body.refund.stripeRefundId,
      amount: 1000,
      status: 'succeeded',
      metadata: { order_id: order.id, refund_id: sent.body.refund.id },
    });

    const unlisted = await deliver(chargeRefunded(order, null, 1000).payload);
    expect(unlisted.statusCode).toBe(200);
    expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['pending']);
    expect(await inventoryOf(mug.id)).toBe(8);

    const listed = await deliver(chargeRefunded(order, [done], 1000).payload);

    expect(listed.statusCode).toBe(200);
    expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await inventoryOf(mug.id)).toBe(9);
    await expectSellableExactly(mug.id, 9);
  });

  describe('an older event never undoes a newer state', () => {
    test('a pending refund.created after the refund succeeded changes nothing', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      stripeRefunds();
      const sent = await postRefund(order.id);
      const stale = refundObject(order, {
        id: sent.body.refund.stripeRefundId,
        amount: 2000,
        status: 'pending',
        metadata: { order_id: order.id, refund_id: sent.body.refund.id },
      });

      const response = await deliver(refundEvent('refund.created', stale, { created: now() - 60 }).payload);

      expect(response.statusCode).toBe(200);
      expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['succeeded']);
      expect(await orderRow(order.id)).toMatchObject({ status: 'refunded' });
      expect((await historyOf(order.id)).map((h) => h.type)).toEqual(['refund_requested', 'refund_succeeded']);
      expect(await inventoryOf(mug.id)).toBe(10);
    });

    test('a succeeded refund.updated delivered after refund.failed (older) leaves it failed, no stock moved', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      stripeRefundsPending();
      const sent = await postRefund(order.id);
      const ids = {
        id: sent.body.refund.stripeRefundId,
        metadata: { order_id: order.id, refund_id: sent.body.refund.id },
      };
      const t = now();
      const failed = refundEvent(
        'refund.failed',
        refundObject(order, { ...ids, amount: 2000, status: 'failed', failureReason: 'unknown' }),
        { created: t },
      );
      const older = refundEvent('refund.updated', refundObject(order, { ...ids, amount: 2000, status: 'succeeded' }), {
        created: t - 5,
      });

      expect((await deliver(failed.payload)).statusCode).toBe(200);
      expect((await deliver(older.payload)).statusCode).toBe(200);

      expect(await refundRows(order.id)).toEqual([
        expect.objectContaining({ status: 'failed', failure_reason: 'unknown', last_event_created: String(t) }),
      ]);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(mug.id)).toBe(8);
      await expectSellableExactly(mug.id, 8);
    });
  });

  test('a refund event for a PaymentIntent no order holds: 200, nothing recorded', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);
    const stranger = { ...order, paymentIntentId: 'pi_nobody0000000000000001' };

    const strangers = [
      refundObject(stranger, { amount: 500, status: 'succeeded' }),
      refundObject(stranger, { amount: 500, status: 'succeeded' }),
    ];
    const refundCreated = await deliver(refundEvent('refund.created', strangers[0] as Stripe.Refund).payload);
    const chargeEvent = await deliver(chargeRefunded(stranger, [strangers[1] as Stripe.Refund], 500).payload);

    expect([refundCreated.statusCode, chargeEvent.statusCode]).toEqual([200, 200]);
    expect(refundCreated.body).toEqual({ received: true });
    const { rows } = await db().query('SELECT id FROM refunds WHERE stripe_refund_id = ANY($1)', [
      strangers.map((r) => r.id),
    ]);
    expect(rows).toEqual([]);
    expect(await refundRows(order.id)).toEqual([]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
  });

  test.each([
    ['refund.updated whose object is a PaymentIntent', 'refund.updated', 'event.data.object.id'],
    ['refund.failed without an amount', 'refund.failed', 'event.data.object.amount'],
    ['charge.refunded whose object is a Refund', 'charge.refunded', 'event.data.object.id'],
  ])('400 invalid_request for %s: nothing marked, nothing changed', async (_name, type, field) => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    const dashboard = refundObject(order, { amount: 1000, status: 'succeeded' });
    const object =
      type === 'refund.updated'
        ? paymentIntent({ status: 'succeeded', amount: 2000, currency: 'usd', orderId: order.id })
        : type === 'refund.failed'
          ? ({ ...dashboard, amount: undefined } as unknown as Stripe.Refund)
          : dashboard;
    const { event, payload } = refundEvent(type, object);

    const response = await deliver(payload);

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'invalid_request', field });
    expect(await redis().exists(keys.stripeEvent(event.id))).toBe(0);
    expect(await refundRows(order.id)).toEqual([]);
    expect(await availableOf(mug.id)).toBe(8);
  });
});
