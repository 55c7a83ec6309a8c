import { givenProduct } from '../helpers/builders';
import { db } from '../helpers/harness';
import { getOrder, givenPaidOrder, givenPendingOrder, postRefund, stripeRefunds } from '../helpers/orders';
import { event as stripeEvent } from '../helpers/stripe-fixtures';
import { deliver } from '../helpers/webhooks';

describe('GET /orders/{orderId}', () => {
  test('returns the order as the database holds it, with its lines and refunds', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 10 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();
    const refund = await postRefund(order.id, {
      items: [{ productId: mug.id, quantity: 1 }],
      reason: 'requested_by_customer',
    });

    const response = await getOrder(order.id);

    expect(response.statusCode).toBe(200);
    const { rows } = await db().query<{ status: string; amount_cents: number; payment_intent_id: string }>(
      'SELECT status, amount_cents, payment_intent_id FROM orders WHERE id = $1',
      [order.id],
    );
    // What the order is (not only what the row says: a row written wrong would agree with itself).
    expect(rows).toEqual([{ status: 'paid', amount_cents: 2 * 1500 + 2599, payment_intent_id: order.paymentIntentId }]);
    expect(response.body.order).toEqual({
      id: order.id,
      status: 'paid',
      amountCents: 2 * 1500 + 2599,
      currency: 'usd',
      paymentIntentId: order.paymentIntentId,
      failureCode: null,
      declineCode: null,
      items: [
        { productId: mug.id, quantity: 2, unitPriceCents: 1500 },
        { productId: tee.id, quantity: 1, unitPriceCents: 2599 },
      ].sort((a, b) => a.productId.localeCompare(b.productId)),
      refunds: [
        {
          id: refund.body.refund.id,
          orderId: order.id,
          amountCents: 1500,
          stripeRefundId: refund.body.refund.stripeRefundId,
          reason: 'requested_by_customer',
          status: 'succeeded',
          failureReason: null,
          createdAt: expect.any(String),
          items: [{ productId: mug.id, quantity: 1, amountCents: 1500 }],
        },
      ],
      dispute: null,
      events: expect.any(Array),
    });
    expect(response.body.order.status).toBe('paid');
    // The history, oldest first; what each refund step records is the refund tests' to check.
    expect(response.body.order.events.map((e: { type: string; source: string }) => [e.type, e.source])).toEqual([
      ['created', 'api'],
      ['paid', 'api'],
      ['refund_requested', expect.any(String)],
      ['refund_succeeded', expect.any(String)],
    ]);
  });

  test('shows the dispute as Stripe last reported it, with its step in the history', async () => {
    const product = await givenProduct({ priceCents: 4000, stock: 10 });
    const order = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);
    const dueBy = 1_751_500_799;
    const dispute = {
      id: 'du_1MtJUT2eZvKYlo2CNaw2HvEv',
      object: 'dispute',
      amount: 4000,
      charge: 'ch_1AZtxr2eZvKYlo2CJDX8whov',
      currency: 'usd',
      evidence_details: { due_by: dueBy, has_evidence: false, past_due: false, submission_count: 0 },
      payment_intent: order.paymentIntentId,
      reason: 'product_not_received',
      status: 'needs_response',
    };
    const created = stripeEvent('charge.dispute.created', dispute, { created: 1_750_000_000 });
    const updated = stripeEvent(
      'charge.dispute.updated',
      { ...dispute, status: 'under_review' },
      { created: 1_750_000_060 },
    );
    expect((await deliver(JSON.stringify(created))).statusCode).toBe(200);
    expect((await deliver(JSON.stringify(updated))).statusCode).toBe(200);

    const response = await getOrder(order.id);

    expect(response.statusCode).toBe(200);
    expect(response.body.order).toMatchObject({ id: order.id, status: 'paid', refunds: [] });
    expect(response.body.order.dispute).toEqual({
      id: 'du_1MtJUT2eZvKYlo2CNaw2HvEv',
      status: 'under_review',
      amountCents: 4000,
      reason: 'product_not_received',
      evidenceDueBy: new Date(dueBy * 1000).toISOString(),
    });
    const data = {
      disputeId: dispute.id,
      amountCents: 4000,
      currency: 'usd',
      reason: 'product_not_received',
      evidenceDueBy: new Date(dueBy * 1000).toISOString(),
    };
    expect(response.body.order.events.slice(2)).toEqual([
      {
        type: 'dispute_opened',
        source: 'webhook',
        stripeEventId: created.id,
        at: expect.any(String),
        ...data,
        status: 'needs_response',
      },
      {
        type: 'dispute_updated',
        source: 'webhook',
        stripeEventId: updated.id,
        at: expect.any(String),
        ...data,
        status: 'under_review',
      },
    ]);
  });

  test('a pending order: its failure fields empty, no refunds, no dispute; created then payment_pending', async () => {
    const product = await givenProduct({ stock: 10 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);

    const response = await getOrder(order.id);

    expect(response.body.order).toMatchObject({
      status: 'pending',
      failureCode: null,
      declineCode: null,
      refunds: [],
      dispute: null,
    });
    expect(response.body.order.events.map((e: { type: string }) => e.type)).toEqual(['created', 'payment_pending']);
  });

  test('404 order_not_found for an unknown id and for a malformed one', async () => {
    const unknown = await getOrder('7d9f8a52-4c7e-4b8e-9a43-1f0c2b3d4e5f');
    const malformed = await getOrder("1' OR '1'='1");

    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error).toMatchObject({
      code: 'order_not_found',
      orderId: '7d9f8a52-4c7e-4b8e-9a43-1f0c2b3d4e5f',
    });
    expect(malformed.statusCode).toBe(404);
    expect(malformed.body.error.code).toBe('order_not_found');
  });
});
