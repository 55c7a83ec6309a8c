import { keys } from '../../lib/keys';
import { givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { logs, redis } from '../helpers/harness';
import { givenPendingOrder, orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { paymentIntent, refund, event as stripeEvent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsRetrieve, mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';

/**
 * Written for mutation testing (MUTATION.md): what the webhook's log line says each event did, and
 * the webhook's refusals and order matching at their edges. Stripe shows an operator only our HTTP
 * answer; what an event did to which order is in the `stripe event` log line alone.
 */
const now = () => Math.floor(Date.now() / 1000);

function eventLog(eventId: string) {
  return logs().filter((line) => line.message === 'stripe event' && line.eventId === eventId);
}

function objectOf(event: { data: { object: unknown } }): Record<string, unknown> {
  return event.data.object as Record<string, unknown>;
}

describe('POST /webhooks/stripe: the log line says what each event did to which order', () => {
  test('an event type the service does not handle is logged as ignored, with no order', async () => {
    // Prepare
    const event = stripeEvent('customer.created', { id: 'cus_1', object: 'customer' });

    // Act
    const response = await deliver(JSON.stringify(event));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(eventLog(event.id)).toEqual([
      {
        level: 'info',
        message: 'stripe event',
        eventId: event.id,
        eventType: 'customer.created',
        duplicate: false,
        result: 'ignored',
      },
    ]);
  });

  test('a payment event for no order of ours is logged as no_matching_order', async () => {
    const { event, payload } = paymentEvent('payment_intent.succeeded', {
      id: '00000000-0000-4000-8000-000000000000',
      paymentIntentId: 'pi_nobodys',
      amountCents: 100,
      currency: 'usd',
    });

    await deliver(payload);

    expect(eventLog(event.id)).toEqual([expect.objectContaining({ duplicate: false, result: 'no_matching_order' })]);
    expect(eventLog(event.id)[0]).not.toHaveProperty('orderId');
  });

  test('a success and a failure for pending orders are logged as paid and failed, with the order id; a redelivery as a duplicate', async () => {
    const product = await givenProduct({ stock: 5 });
    const toPay = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
    const toFail = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
    const succeeded = paymentEvent('payment_intent.succeeded', toPay);
    const failed = paymentEvent('payment_intent.payment_failed', toFail);

    await deliver(succeeded.payload);
    await deliver(failed.payload);
    await deliver(succeeded.payload);

    expect(eventLog(succeeded.event.id)).toEqual([
      expect.objectContaining({ eventType: 'payment_intent.succeeded', orderId: toPay.id, result: 'paid' }),
      expect.objectContaining({ eventType: 'payment_intent.succeeded', duplicate: true }),
    ]);
    expect(eventLog(failed.event.id)).toEqual([
      expect.objectContaining({ eventType: 'payment_intent.payment_failed', orderId: toFail.id, result: 'failed' }),
    ]);
  });

  test.each([
    ['succeeded', 'kept_paid', 'paid'],
    ['requires_payment_method', 'failed', 'failed'],
  ] as const)(
    'a later payment_failed for a paid order whose PaymentIntent Stripe says is %s is logged as %s',
    async (atStripe, result, status) => {
      // Prepare
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      await deliver(paymentEvent('payment_intent.succeeded', order, { created: now() - 10 }).payload);
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 5 });
      mockPaymentIntentsRetrieve.mockResolvedValue(
        paymentIntent({
          id: order.paymentIntentId,
          status: atStripe,
          amount: order.amountCents,
          currency: 'usd',
          orderId: order.id,
        }),
      );

      // Act
      await deliver(failed.payload);

      // Assess
      expect(eventLog(failed.event.id)).toEqual([expect.objectContaining({ orderId: order.id, result })]);
      expect(await orderRow(order.id)).toMatchObject({ status });
    },
  );

  test('a further success for an order already failed for lack of stock is logged as refund_completed', async () => {
    // Prepare: a 3-D Secure order whose 1 s hold expires, its unit sold to another order, then its
    // late success fails it out_of_stock_after_payment and refunds it.
    const product = await givenProduct({ priceCents: 4500, stock: 1 });
    stripeAnswers('requires_action');
    const slow = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
      config: { reservationTtlSeconds: 1 },
    });
    await new Promise((r) => setTimeout(r, 1_200));
    stripeAnswers('succeeded');
    expect((await postOrder(orderBody([{ productId: product.id, quantity: 1 }]))).statusCode).toBe(201);
    mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string }) =>
      refund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent }),
    );
    const late = paymentEvent('payment_intent.succeeded', slow.body.order);
    await deliver(late.payload);
    const again = paymentEvent('payment_intent.succeeded', slow.body.order);

    // Act: another success event (a new event id) for the same PaymentIntent.
    await deliver(again.payload);

    // Assess
    expect(eventLog(late.event.id)).toEqual([
      expect.objectContaining({ orderId: slow.body.order.id, result: 'out_of_stock' }),
    ]);
    expect(eventLog(again.event.id)).toEqual([
      expect.objectContaining({ orderId: slow.body.order.id, result: 'refund_completed' }),
    ]);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await inventoryOf(product.id)).toBe(0);
  });
});

describe('POST /webhooks/stripe: a handled event must carry a PaymentIntent', () => {
  test.each([
    ['an id with something before pi_', 'xpi_3MtwBwLkdIwHu7ix28a3tqPa'],
    ['an id with something after it', 'pi_3MtwBwLkdIwHu7ix28a3tqPa OR 1=1'],
  ])('%s gets 400 invalid_request naming event.data.object.id; nothing changes, nothing is marked', async (_, id) => {
    // Prepare
    const product = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
    const { event } = paymentEvent('payment_intent.succeeded', order);
    const payload = JSON.stringify({ ...event, data: { object: { ...objectOf(event), id } } });

    // Act
    const response = await deliver(payload);

    // Assess
    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({
      error: {
        code: 'invalid_request',
        message: 'payment_intent.succeeded without a valid PaymentIntent (event.data.object.id)',
        field: 'event.data.object.id',
      },
    });
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
    expect(await redis().exists(keys.stripeEvent(event.id))).toBe(0);
  });

  test('a payment_failed whose last_payment_error.decline_code is not a string gets 400 naming it', async () => {
    const product = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
    const { event } = paymentEvent('payment_intent.payment_failed', order);
    const object = { ...objectOf(event), last_payment_error: { code: 'card_declined', decline_code: 51 } };

    const response = await deliver(JSON.stringify({ ...event, data: { object } }));

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({
      code: 'invalid_request',
      field: 'event.data.object.last_payment_error.decline_code',
    });
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
  });
});

describe('POST /webhooks/stripe: the order an event is about', () => {
  test('a success for a PaymentIntent no order holds, with metadata null, is acknowledged and changes nothing', async () => {
    const { event } = paymentEvent('payment_intent.succeeded', {
      id: '00000000-0000-4000-8000-000000000000',
      paymentIntentId: 'pi_unknownWithNullMetadata',
      amountCents: 100,
      currency: 'usd',
    });

    const response = await deliver(
      JSON.stringify({ ...event, data: { object: { ...objectOf(event), metadata: null } } }),
    );

    expect(response.statusCode).toBe(200);
    expect(eventLog(event.id)).toEqual([expect.objectContaining({ result: 'no_matching_order' })]);
  });

  test('a success for a PaymentIntent no order holds, naming in its metadata an order that holds another PaymentIntent, changes nothing', async () => {
    // Prepare: the order waits for 3-D Secure on its own PaymentIntent.
    const product = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
    const stranger = paymentEvent('payment_intent.succeeded', { ...order, paymentIntentId: 'pi_notThisOrders' });

    // Act
    const response = await deliver(stranger.payload);

    // Assess: still pending on its own PaymentIntent, no stock taken.
    expect(response.statusCode).toBe(200);
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', payment_intent_id: order.paymentIntentId });
    expect(await inventoryOf(product.id)).toBe(5);
    expect(eventLog(stranger.event.id)).toEqual([expect.objectContaining({ result: 'no_matching_order' })]);
  });
});
