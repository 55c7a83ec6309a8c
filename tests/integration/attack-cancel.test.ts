import { cancelOrderHandler } from '../../handlers/cancel-order';
import { applyStripeEvent } from '../../lib/orders/apply-payment-event';
import { cancelPending } from '../../lib/orders/cancel-pending';
import { givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { db, testDeps } from '../helpers/harness';
import { givenPaidOrder, orderBody, postOrder, stripeRefunds } from '../helpers/orders';
import {
  connectionError,
  paymentIntent,
  event as stripeEvent,
  refund as stripeRefund,
} from '../helpers/stripe-fixtures';
import { mockPaymentIntentsCreate, mockPaymentIntentsSearch, mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver } from '../helpers/webhooks';

function postCancel(orderId: string, body?: unknown): Promise<Response> {
  return invoke(
    cancelOrderHandler(() => testDeps()),
    apiGatewayEvent({
      method: 'POST',
      path: `/orders/${orderId}/cancel`,
      routeKey: 'POST /orders/{orderId}/cancel',
      pathParameters: { orderId },
      headers: {},
      body,
    }),
  );
}

test('canceled (Stripe search showed no PaymentIntent yet), then payment_intent.succeeded for it: the captured money is refunded, or the order is not left canceled', async () => {
  // create-order's call timed out after Stripe had created the PaymentIntent: 503, order pending, no PI id.
  const p = await givenProduct({ priceCents: 1000, stock: 5 });
  mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
  expect((await postOrder(orderBody([{ productId: p.id, quantity: 1 }]))).statusCode).toBe(503);
  const { rows } = await db().query<{ id: string }>(
    'SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1',
    [p.id],
  );
  const orderId = rows[0]?.id as string;
  // Stripe's search is eventually consistent: it does not list the new PaymentIntent yet.
  mockPaymentIntentsSearch.mockResolvedValue({ object: 'search_result', data: [], has_more: false, next_page: null });
  expect((await postCancel(orderId)).statusCode).toBe(200);
  expect((await orderRow(orderId))?.status).toBe('canceled');

  // The PaymentIntent succeeds at Stripe: money captured.
  stripeRefunds();
  const intent = paymentIntent({ status: 'succeeded', amount: 1000, currency: 'usd', orderId });
  const r = await deliver(JSON.stringify(stripeEvent('payment_intent.succeeded', intent)));
  expect(r.statusCode).toBe(200);

  const status = (await orderRow(orderId))?.status;
  const refunded = mockRefundsCreate.mock.calls.length > 0;
  // Money and status never disagree: a canceled order holds no money.
  expect({ status, refunded }).not.toEqual({ status: 'canceled', refunded: false });
  expect(await inventoryOf(p.id)).toBe(5);
});

test('cancel of a paid order whose money a pending dashboard refund already covers: once canceled, its stock is given back', async () => {
  const p = await givenProduct({ priceCents: 1000, stock: 10 });
  const order = await givenPaidOrder([{ productId: p.id, quantity: 2 }]);
  expect(await inventoryOf(p.id)).toBe(8);
  // Someone refunds the whole amount in the Stripe dashboard; Stripe has not finished it.
  const dashboard = {
    ...stripeRefund({ amount: 2000, currency: 'usd', paymentIntentId: order.paymentIntentId }),
    status: 'pending',
  };
  expect((await deliver(JSON.stringify(stripeEvent('refund.created', dashboard as never)))).statusCode).toBe(200);

  const cancel = await postCancel(order.id);
  expect(cancel.statusCode).toBe(202);
  const done = { ...dashboard, status: 'succeeded' };
  expect((await deliver(JSON.stringify(stripeEvent('refund.updated', done as never)))).statusCode).toBe(200);

  expect((await orderRow(order.id))?.status).toBe('canceled');
  // The contract's paid-order cancel: "everything not yet refunded is refunded ..., its stock given back".
  expect(await inventoryOf(p.id)).toBe(10);
});

test('canceled while payment_intent.succeeded is being applied (after the webhook read it as pending): the money is refunded, decided under the lock', async () => {
  const p = await givenProduct({ priceCents: 1000, stock: 5 });
  mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
  expect((await postOrder(orderBody([{ productId: p.id, quantity: 1 }]))).statusCode).toBe(503);
  const { rows } = await db().query<{ id: string }>(
    'SELECT o.id FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1',
    [p.id],
  );
  const orderId = rows[0]?.id as string;
  stripeRefunds();
  // Another container cancels the order between the webhook's first read (pending) and its lock.
  const deps = testDeps();
  let canceledMeanwhile = false;
  const query = deps.db.query.bind(deps.db);
  deps.db.query = (async (text: string, params?: unknown[]) => {
    if (!canceledMeanwhile && text.includes('order_paid(')) {
      canceledMeanwhile = true;
      await cancelPending(testDeps(), { orderId, reason: 'requested_by_customer', cause: { source: 'operator' } });
    }
    return query(text, params);
  }) as typeof deps.db.query;
  const intent = paymentIntent({ status: 'succeeded', amount: 1000, currency: 'usd', orderId });

  const outcome = await applyStripeEvent(deps, stripeEvent('payment_intent.succeeded', intent));

  expect(canceledMeanwhile).toBe(true);
  expect(outcome).toMatchObject({ orderId, result: 'canceled_payment_refunded' });
  expect((await orderRow(orderId))?.status).toBe('canceled');
  expect(mockRefundsCreate).toHaveBeenCalledWith(
    expect.objectContaining({ payment_intent: intent.id, amount: 1000 }),
    expect.objectContaining({ idempotencyKey: expect.stringMatching(/^refund-/) }),
  );
});

test('a paid order canceled by an operator (refunded in full), then a success event for its payment: no second refund, the order stays canceled', async () => {
  const p = await givenProduct({ priceCents: 1000, stock: 5 });
  const order = await givenPaidOrder([{ productId: p.id, quantity: 2 }]);
  stripeRefunds();
  expect((await postCancel(order.id)).statusCode).toBe(200);
  expect(mockRefundsCreate).toHaveBeenCalledTimes(1);

  // Stripe delivers a success event for the payment again (a new event id, late).
  const intent = paymentIntent({
    id: order.paymentIntentId,
    status: 'succeeded',
    amount: order.amountCents,
    currency: order.currency,
    orderId: order.id,
  });
  expect((await deliver(JSON.stringify(stripeEvent('payment_intent.succeeded', intent)))).statusCode).toBe(200);

  expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
  expect((await orderRow(order.id))?.status).toBe('canceled');
  const { rows } = await db().query('SELECT amount_cents, status FROM refunds WHERE order_id = $1', [order.id]);
  expect(rows).toEqual([{ amount_cents: 2000, status: 'succeeded' }]);
  expect(await inventoryOf(p.id)).toBe(5);
});
