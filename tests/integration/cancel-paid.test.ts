import type Stripe from 'stripe';
import { cancelPaidOrder } from '../../lib/orders/cancel-paid';
import type { Cause } from '../../lib/orders/history';
import { pendingRefunds } from '../../lib/orders/refund-store';
import { sendRefund } from '../../lib/orders/send-refund';
import { givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { db, testDeps } from '../helpers/harness';
import { expectSellableExactly, givenPaidOrder, givenPendingOrder, postRefund, stripeRefunds } from '../helpers/orders';
import {
  connectionError,
  invalidRequestError,
  event as stripeEvent,
  refund as stripeRefund,
} from '../helpers/stripe-fixtures';
import { mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver } from '../helpers/webhooks';

/**
 * cancelPaidOrder (lib/orders/cancel-paid.ts), the core of the cancel route for a paid order: one
 * refund of everything not yet refunded, and the order 'canceled' (not 'refunded') once Stripe
 * confirms it.
 */

const OPERATOR: Cause = { source: 'operator' };
const cancel = (orderId: string, reason = 'requested_by_customer') =>
  cancelPaidOrder(testDeps(), orderId, { reason, cause: OPERATOR });

async function refundRows(orderId: string) {
  const { rows } = await db().query<{ id: string; status: string; amount_cents: number; source: string }>(
    'SELECT id, status, amount_cents, source FROM refunds WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  return rows;
}

async function refundItems(refundId: string) {
  const { rows } = await db().query<{ product_id: string; quantity: number; amount_cents: number }>(
    'SELECT product_id, quantity, amount_cents FROM refund_items WHERE refund_id = $1 ORDER BY product_id',
    [refundId],
  );
  return rows;
}

async function historyTypes(orderId: string) {
  const { rows } = await db().query<{ type: string; source: string }>(
    `SELECT type, source FROM order_events WHERE order_id = $1
        AND type IN ('refund_requested', 'refund_succeeded', 'refund_failed', 'canceled') ORDER BY id`,
    [orderId],
  );
  return rows.map((r) => `${r.type}:${r.source}`);
}

async function outboxOf(orderId: string) {
  const { rows } = await db().query<{ topic: string; payload: Record<string, unknown> }>(
    `SELECT topic, payload FROM outbox WHERE order_id = $1 AND topic IN ('order.refunded', 'refund.failed', 'order.canceled')
      ORDER BY created_at, id`,
    [orderId],
  );
  return rows;
}

const bySku = <T extends { product_id: string }>(rows: T[]) =>
  rows.sort((a, b) => a.product_id.localeCompare(b.product_id));

describe('cancelPaidOrder', () => {
  test('a paid order: one refund of everything, stock back, the order canceled with its history and order.canceled', async () => {
    // Prepare
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();

    // Act
    const outcome = await cancel(order.id, 'duplicate');

    // Assess
    const [row] = await refundRows(order.id);
    expect(outcome).toEqual({ kind: 'canceled', refundId: row?.id, refundedCents: 5599 });
    expect(await refundRows(order.id)).toEqual([
      {
        id: outcome.kind === 'canceled' ? outcome.refundId : '',
        status: 'succeeded',
        amount_cents: 5599,
        source: 'operator',
      },
    ]);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: order.paymentIntentId,
        amount: 5599,
        reason: 'duplicate',
        metadata: { order_id: order.id, refund_id: row?.id },
      },
      { idempotencyKey: `refund-${row?.id}` },
    );
    expect(await orderRow(order.id)).toMatchObject({
      status: 'canceled',
      cancel_reason: 'duplicate',
      cancel_requested_at: expect.any(Date),
    });
    expect(await historyTypes(order.id)).toEqual([
      'refund_requested:operator',
      'refund_succeeded:operator',
      'canceled:operator',
    ]);
    // Canceled, not refunded: order.canceled only, with the money returned.
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'order.canceled',
        payload: { reason: 'duplicate', refundedCents: 5599, amountCents: 5599, currency: 'usd' },
      },
    ]);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);
    await expectSellableExactly(mug.id, 10);
    await expectSellableExactly(tee.id, 5);
  });

  test('a partly refunded order: the one refund takes only what is left, units and money', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const tee = await givenProduct({ priceCents: 500, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 3 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();
    const partial = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    expect(partial.statusCode).toBe(201);
    mockRefundsCreate.mockClear();

    const outcome = await cancel(order.id);

    expect(outcome).toMatchObject({ kind: 'canceled', refundedCents: 3500 });
    const rows = await refundRows(order.id);
    expect(rows.map((r) => [r.amount_cents, r.status])).toEqual([
      [1000, 'succeeded'],
      [2500, 'succeeded'],
    ]);
    expect(await refundItems(rows[1]?.id ?? '')).toEqual(
      bySku([
        { product_id: mug.id, quantity: 2, amount_cents: 2000 },
        { product_id: tee.id, quantity: 1, amount_cents: 500 },
      ]),
    );
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: order.paymentIntentId,
        amount: 2500,
        reason: 'requested_by_customer',
        metadata: { order_id: order.id, refund_id: rows[1]?.id },
      },
      { idempotencyKey: `refund-${rows[1]?.id}` },
    );
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
    expect((await outboxOf(order.id)).map((o) => o.topic)).toEqual(['order.canceled']);
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([10, 5]);
    await expectSellableExactly(mug.id, 10);
  });

  test('Stripe refuses the refund for good: RefundRejectedError, the refund failed, the cancel given up, the order paid with its stock', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(invalidRequestError('charge_disputed', 'Charge ch_1 has been disputed.'));

    const thrown = await cancel(order.id).catch((error: unknown) => error);

    const [row] = await refundRows(order.id);
    expect(thrown).toMatchObject({
      code: 'refund_rejected',
      status: 409,
      details: { orderId: order.id, refundId: row?.id, providerCode: 'charge_disputed' },
    });
    expect(row).toMatchObject({ status: 'failed' });
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_requested_at: null });
    expect(await historyTypes(order.id)).toEqual(['refund_requested:operator', 'refund_failed:operator']);
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'refund.failed',
        payload: expect.objectContaining({ refundId: row?.id, failureReason: 'charge_disputed', amountCents: 2000 }),
      },
    ]);
    // The units are unrefunded again: a plain refund later takes them all.
    stripeRefunds();
    const later = await postRefund(order.id);
    expect(later.statusCode).toBe(201);
    expect(later.body.order.status).toBe('refunded');
    expect(await inventoryOf(mug.id)).toBe(10);
  });

  test('Stripe unreachable: 503, the refund pending and the cancel requested; a later resend completes the cancel with the same Stripe key', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());

    const thrown = await cancel(order.id).catch((error: unknown) => error);

    const [row] = await refundRows(order.id);
    expect(thrown).toMatchObject({ code: 'payment_provider_unavailable', status: 503 });
    expect(row).toMatchObject({ status: 'pending', amount_cents: 2000 });
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_requested_at: expect.any(Date) });
    expect(await inventoryOf(mug.id)).toBe(8);

    // The scheduler's resend of refunds left pending completes it.
    stripeRefunds();
    const [pending] = await pendingRefunds(db(), { orderId: order.id });
    const sent = await sendRefund(testDeps(), pending as NonNullable<typeof pending>, { source: 'scheduler' });

    expect(sent).toEqual({ kind: 'succeeded' });
    expect(await refundRows(order.id)).toEqual([expect.objectContaining({ id: row?.id, status: 'succeeded' })]);
    expect(mockRefundsCreate.mock.calls.map(([, options]) => options.idempotencyKey)).toEqual([
      `refund-${row?.id}`,
      `refund-${row?.id}`,
    ]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled', cancel_reason: 'requested_by_customer' });
    expect(await historyTypes(order.id)).toEqual([
      'refund_requested:operator',
      'refund_succeeded:scheduler',
      'canceled:scheduler',
    ]);
    expect((await outboxOf(order.id)).map((o) => o.topic)).toEqual(['order.canceled']);
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test('Stripe unreachable, then the cancel asked again: no second refund row, the same refund resent, canceled', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    await expect(cancel(order.id)).rejects.toMatchObject({ code: 'payment_provider_unavailable' });
    stripeRefunds();

    const outcome = await cancel(order.id);

    const rows = await refundRows(order.id);
    expect(outcome).toEqual({ kind: 'canceled', refundId: null, refundedCents: 2000 });
    expect(rows).toEqual([expect.objectContaining({ status: 'succeeded', amount_cents: 2000 })]);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(2);
    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
    expect(await inventoryOf(mug.id)).toBe(10);
  });

  test('Stripe holds the refund as pending: cancel_pending; its webhook confirming it cancels the order', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    let made: Stripe.Refund | undefined;
    mockRefundsCreate.mockImplementationOnce(async (params: { amount: number; metadata: Record<string, string> }) => {
      made = {
        ...stripeRefund({
          amount: params.amount,
          currency: 'usd',
          paymentIntentId: order.paymentIntentId,
          metadata: params.metadata,
        }),
        status: 'pending',
      };
      return made;
    });

    const outcome = await cancel(order.id);
    expect(outcome).toMatchObject({ kind: 'cancel_pending', refundId: expect.any(String) });
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_requested_at: expect.any(Date) });
    expect(await inventoryOf(mug.id)).toBe(8);

    const event = stripeEvent('refund.updated', { ...(made as Stripe.Refund), status: 'succeeded' });
    expect((await deliver(JSON.stringify(event))).statusCode).toBe(200);

    expect(await orderRow(order.id)).toMatchObject({ status: 'canceled' });
    expect(await historyTypes(order.id)).toEqual([
      'refund_requested:operator',
      'refund_succeeded:webhook',
      'canceled:webhook',
    ]);
    expect(await outboxOf(order.id)).toEqual([
      {
        topic: 'order.canceled',
        payload: { reason: 'requested_by_customer', refundedCents: 2000, amountCents: 2000, currency: 'usd' },
      },
    ]);
    expect(await inventoryOf(mug.id)).toBe(10);
  });

  test('a canceled order whose refund later fails is paid again, its money owed and its stock not given back twice', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();
    await cancel(order.id);
    const [row] = await refundRows(order.id);
    const { rows } = await db().query<{ stripe_refund_id: string }>(
      'SELECT stripe_refund_id FROM refunds WHERE id = $1',
      [row?.id],
    );
    const failed = {
      ...stripeRefund({
        amount: 2000,
        currency: 'usd',
        paymentIntentId: order.paymentIntentId,
        metadata: { order_id: order.id, refund_id: row?.id ?? '' },
      }),
      id: rows[0]?.stripe_refund_id ?? '',
      status: 'failed',
      failure_reason: 'lost_or_stolen_card',
    };

    expect((await deliver(JSON.stringify(stripeEvent('refund.failed', failed)))).statusCode).toBe(200);

    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', cancel_requested_at: null });
    expect(await inventoryOf(mug.id)).toBe(10);
    const again = await postRefund(order.id);
    expect(again.body.order.status).toBe('refunded');
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test('an order that is not paid, or none: not_cancelable / not_found, nothing written', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const pending = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    const refunded = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);
    stripeRefunds();
    await postRefund(refunded.id);
    mockRefundsCreate.mockClear();

    expect(await cancel(pending.id)).toEqual({ kind: 'not_cancelable', status: 'pending' });
    expect(await cancel(refunded.id)).toEqual({ kind: 'not_cancelable', status: 'refunded' });
    expect(await cancel('7d9f8a52-4c7e-4b8e-9a43-1f0c2b3d4e5f')).toEqual({ kind: 'not_found' });
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await refundRows(pending.id)).toEqual([]);
    expect(await orderRow(refunded.id)).toMatchObject({ cancel_requested_at: null });
  });
});
