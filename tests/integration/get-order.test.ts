import { givenProduct } from '../helpers/builders';
import { db } from '../helpers/harness';
import { getOrder, givenPaidOrder, postRefund, stripeRefunds } from '../helpers/orders';

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
    });
    expect(response.body.order.status).toBe('paid');
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
