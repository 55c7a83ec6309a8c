import type Stripe from 'stripe';
import { givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { db } from '../helpers/harness';
import { givenPaidOrder, givenPendingOrder, postRefund } from '../helpers/orders';
import {
  connectionError,
  paymentIntent,
  event as stripeEvent,
  refund as stripeRefund,
} from '../helpers/stripe-fixtures';
import { mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver } from '../helpers/webhooks';

/** Attack probes: hostile but signed webhook objects for the new event types. Never a 5xx. */

const T = Math.floor(Date.now() / 1000);
const send = (e: Stripe.Event) => deliver(JSON.stringify(e));

function dispute(
  paymentIntentId: string,
  o: { amount?: number; reason?: string; dueBy?: number | null; currency?: string } = {},
) {
  return {
    id: 'du_attack1',
    object: 'dispute',
    amount: o.amount ?? 1000,
    charge: 'ch_attack1',
    created: T - 100,
    currency: o.currency ?? 'usd',
    evidence_details: {
      due_by: o.dueBy === undefined ? T + 86400 : o.dueBy,
      has_evidence: false,
      past_due: false,
      submission_count: 0,
    },
    payment_intent: paymentIntentId,
    reason: o.reason ?? 'fraudulent',
    status: 'needs_response',
  };
}

async function counts(orderId: string) {
  const { rows } = await db().query<{ d: number; e: number; o: number; r: number }>(
    `SELECT (SELECT count(*)::int FROM disputes WHERE order_id = $1) AS d,
            (SELECT count(*)::int FROM order_events WHERE order_id = $1) AS e,
            (SELECT count(*)::int FROM outbox WHERE order_id = $1) AS o,
            (SELECT count(*)::int FROM refunds WHERE order_id = $1) AS r`,
    [orderId],
  );
  return rows[0];
}

describe('hostile dispute objects', () => {
  test('amount beyond PostgreSQL integer: 400 (or 200), never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPaidOrder([{ productId: p.id, quantity: 1 }]);
    const before = await counts(order.id);
    const r = await send(
      stripeEvent('charge.dispute.created', dispute(order.paymentIntentId, { amount: 3_000_000_000 }) as never),
    );
    expect(r.statusCode).toBeLessThan(500);
    if (r.statusCode === 400) expect(await counts(order.id)).toEqual(before);
  });

  test('reason containing a NUL character: never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPaidOrder([{ productId: p.id, quantity: 1 }]);
    const r = await send(
      stripeEvent('charge.dispute.created', dispute(order.paymentIntentId, { reason: 'fraud\u0000ulent' }) as never),
    );
    expect(r.statusCode).toBeLessThan(500);
  });

  test('evidence due_by far beyond any date: never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPaidOrder([{ productId: p.id, quantity: 1 }]);
    const r = await send(
      stripeEvent('charge.dispute.created', dispute(order.paymentIntentId, { dueBy: 1e15 }) as never),
    );
    expect(r.statusCode).toBeLessThan(500);
  });
});

describe('hostile refund objects', () => {
  test('a dashboard refund with an amount beyond PostgreSQL integer: never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPaidOrder([{ productId: p.id, quantity: 1 }]);
    const refund = {
      ...stripeRefund({ amount: 3_000_000_000, currency: 'usd', paymentIntentId: order.paymentIntentId }),
    };
    const r = await send(stripeEvent('refund.created', refund as never));
    expect(r.statusCode).toBeLessThan(500);
  });

  test('a failed refund whose failure_reason holds a NUL character: never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPaidOrder([{ productId: p.id, quantity: 1 }]);
    const refund = {
      ...stripeRefund({ amount: 1000, currency: 'usd', paymentIntentId: order.paymentIntentId }),
      status: 'failed',
      failure_reason: 'lost\u0000card',
    };
    const r = await send(stripeEvent('refund.failed', refund as never));
    expect(r.statusCode).toBeLessThan(500);
  });

  test("metadata.refund_id naming another order's pending refund, no payment_intent: that refund does not move", async () => {
    const p = await givenProduct({ priceCents: 1000, stock: 10 });
    const victim = await givenPaidOrder([{ productId: p.id, quantity: 2 }]);
    // The victim's refund could not reach Stripe: pending, no Stripe id.
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    expect((await postRefund(victim.id, {})).statusCode).toBe(503);
    const { rows } = await db().query<{ id: string }>('SELECT id FROM refunds WHERE order_id = $1', [victim.id]);
    const victimRefundId = rows[0]?.id as string;
    expect(await inventoryOf(p.id)).toBe(8);

    // A refund on some other charge (no PaymentIntent), its metadata naming the victim's refund.
    const hostile = {
      ...stripeRefund({ amount: 1, currency: 'usd', paymentIntentId: 'pi_x' }),
      payment_intent: null,
      metadata: { refund_id: victimRefundId },
    };
    const r = await send(stripeEvent('refund.updated', hostile as never));
    expect(r.statusCode).toBe(200);
    const { rows: after } = await db().query<{ status: string; stripe_refund_id: string | null }>(
      'SELECT status, stripe_refund_id FROM refunds WHERE id = $1',
      [victimRefundId],
    );
    // Stripe returned 1 cent of something else: the victim's 2000 refund is not done, its stock not back.
    expect(after[0]).toEqual({ status: 'pending', stripe_refund_id: null });
    expect(await inventoryOf(p.id)).toBe(8);
    expect((await orderRow(victim.id))?.status).toBe('paid');
  });

  test("a refund of our row with a different amount than the row's: the row does not count it as the full refund", async () => {
    const p = await givenProduct({ priceCents: 1000, stock: 10 });
    const victim = await givenPaidOrder([{ productId: p.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    expect((await postRefund(victim.id, {})).statusCode).toBe(503);
    const { rows } = await db().query<{ id: string }>('SELECT id FROM refunds WHERE order_id = $1', [victim.id]);
    const refundId = rows[0]?.id as string;
    const partial = {
      ...stripeRefund({ amount: 1, currency: 'usd', paymentIntentId: victim.paymentIntentId }),
      metadata: { refund_id: refundId },
    };
    const r = await send(stripeEvent('refund.updated', partial as never));
    expect(r.statusCode).toBe(200);
    expect((await orderRow(victim.id))?.status).toBe('paid');
  });
});

describe('hostile payment_intent.canceled', () => {
  test('cancellation_reason with a NUL character: never 500', async () => {
    const p = await givenProduct({ priceCents: 1000 });
    const order = await givenPendingOrder([{ productId: p.id, quantity: 1 }]);
    const intent = {
      ...paymentIntent({
        id: order.paymentIntentId,
        status: 'canceled',
        amount: 1000,
        currency: 'usd',
        orderId: order.id,
      }),
      cancellation_reason: 'aband\u0000oned',
    };
    const r = await send(stripeEvent('payment_intent.canceled', intent as never));
    expect(r.statusCode).toBeLessThan(500);
  });
});
