import { keys } from '../../lib/keys';
import { EVENT_MARK_TTL_SECONDS } from '../../lib/orders/apply-payment-event';
import { availableOf, givenProduct, heldOf, holdOf, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import { givenPaidOrder, givenPendingOrder, orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { connectionError, paymentIntent, refund, event as stripeEvent } from '../helpers/stripe-fixtures';
import { mockConstructEvent, mockPaymentIntentsRetrieve, mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver, OLD_WEBHOOK_SECRET, paymentEvent, sign } from '../helpers/webhooks';

const now = () => Math.floor(Date.now() / 1000);

describe('POST /webhooks/stripe', () => {
  describe('signature', () => {
    test('a correctly signed payment_intent.succeeded completes a pending order: stock taken once, hold cleared', async () => {
      // Prepare
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      expect(await holdOf(order.id)).toEqual({ [product.id]: '2' });
      const { event, payload } = paymentEvent('payment_intent.succeeded', order);

      // Act
      const response = await deliver(payload);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.body).toEqual({ received: true });
      expect(mockConstructEvent).toHaveBeenCalledWith(
        expect.any(Buffer),
        expect.stringMatching(/^t=\d+,v1=/),
        expect.any(String),
      );
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid', last_event_created: String(event.created) });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await holdOf(order.id)).toEqual({});
      expect(await heldOf(product.id)).toBe(0);
      expect(await availableOf(product.id)).toBe(3);
    });

    test('a payment_intent.payment_failed for a pending order fails it and releases its hold', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      expect(await availableOf(product.id)).toBe(3);

      const response = await deliver(paymentEvent('payment_intent.payment_failed', order).payload);

      expect(response.statusCode).toBe(200);
      expect(await orderRow(order.id)).toMatchObject({
        status: 'failed',
        failure_code: 'payment_declined',
        decline_code: 'insufficient_funds',
      });
      expect(await inventoryOf(product.id)).toBe(5);
      expect(await holdOf(order.id)).toEqual({});
      expect(await heldOf(product.id)).toBe(0);
      expect(await availableOf(product.id)).toBe(5);
    });

    test('an invalid signature gets 401 invalid_signature and changes nothing', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const { event, payload } = paymentEvent('payment_intent.succeeded', order);

      const forged = await deliver(payload, { secret: 'whsec_attacker' });
      const tampered = await deliver(payload.replace(String(order.amountCents), '1'), { signature: sign(payload) });
      const missing = await deliver(payload, { signature: null });

      for (const response of [forged, tampered, missing]) {
        expect(response.statusCode).toBe(401);
        expect(response.body.error.code).toBe('invalid_signature');
      }
      expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
      expect(await inventoryOf(product.id)).toBe(5);
      expect(await redis().exists(keys.stripeEvent(event.id))).toBe(0);
    });

    test('a signature older than the 300 s tolerance gets 401', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const { payload } = paymentEvent('payment_intent.succeeded', order);

      const response = await deliver(payload, { timestamp: now() - 301 });

      expect(response.statusCode).toBe(401);
      expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
    });

    test('an event signed with the previous secret is accepted while secrets rotate', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);

      const response = await deliver(paymentEvent('payment_intent.succeeded', order).payload, {
        secret: OLD_WEBHOOK_SECRET,
      });

      expect(response.statusCode).toBe(200);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    });

    test('a base64-encoded body is decoded before its signature is checked', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);

      const response = await deliver(paymentEvent('payment_intent.succeeded', order).payload, { base64: true });

      expect(response.statusCode).toBe(200);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    });

    test('a correctly signed body that is not a Stripe event gets 400 invalid_request', async () => {
      const notJson = await deliver('hello');
      const noType = await deliver(JSON.stringify({ id: 'evt_1' }));

      expect(notJson.statusCode).toBe(400);
      expect(notJson.body.error.code).toBe('invalid_request');
      expect(noType.statusCode).toBe(400);
      expect(await redis().keys('stripe:event:*')).toEqual([]);
    });

    test.each([
      ['data missing', (e: Record<string, unknown>) => ({ ...e, data: undefined })],
      ['data null', (e: Record<string, unknown>) => ({ ...e, data: null })],
      ['data.object null', (e: Record<string, unknown>) => ({ ...e, data: { object: null } })],
      [
        'data.object without an id',
        (e: Record<string, unknown>) => ({ ...e, data: { object: { object: 'payment_intent', metadata: {} } } }),
      ],
      ['data.object a string', (e: Record<string, unknown>) => ({ ...e, data: { object: 'pi_1' } })],
      [
        'data.object.metadata a string',
        (e: Record<string, unknown>) => ({ ...e, data: { object: { id: 'pi_1', metadata: 'x' } } }),
      ],
      [
        'data.object that is not a PaymentIntent (no object field, a charge id)',
        (e: Record<string, unknown>) => {
          const { object: _type, ...object } = (e.data as { object: Record<string, unknown> }).object;
          return { ...e, data: { object: { ...object, id: 'ch_not_a_pi_123' } } };
        },
      ],
      [
        'data.object of another type',
        (e: Record<string, unknown>) => ({
          ...e,
          data: { object: { ...(e.data as { object: Record<string, unknown> }).object, object: 'charge' } },
        }),
      ],
      ['created 1e20', (e: Record<string, unknown>) => ({ ...e, created: 1e20 })],
      ['created 1.5', (e: Record<string, unknown>) => ({ ...e, created: 1.5 })],
      ['created negative', (e: Record<string, unknown>) => ({ ...e, created: -1 })],
    ])(
      'a signed %s gets 400 invalid_request for both handled types; nothing changes, nothing is marked',
      async (_, malform) => {
        const product = await givenProduct({ stock: 5 });
        const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
        for (const type of ['payment_intent.succeeded', 'payment_intent.payment_failed'] as const) {
          const { event } = paymentEvent(type, order);
          const payload = JSON.stringify(malform(event as unknown as Record<string, unknown>));

          const response = await deliver(payload);

          expect({ type, status: response.statusCode, code: response.body.error?.code }).toEqual({
            type,
            status: 400,
            code: 'invalid_request',
          });
        }
        expect(await orderRow(order.id)).toMatchObject({ status: 'pending', last_event_created: null });
        expect(await inventoryOf(product.id)).toBe(5);
        expect(await holdOf(order.id)).toEqual({ [product.id]: '2' });
        expect(await redis().keys('stripe:event:*')).toEqual([]);
      },
    );

    test('an event type the service does not handle is acknowledged whatever its object holds', async () => {
      const { event } = paymentEvent('payment_intent.succeeded', {
        id: '00000000-0000-4000-8000-000000000000',
        paymentIntentId: 'pi_x',
        amountCents: 1,
        currency: 'usd',
      });
      const response = await deliver(JSON.stringify({ ...event, type: 'customer.created', data: null }));

      expect(response.statusCode).toBe(200);
      expect(response.body).toEqual({ received: true });
    });
  });

  describe('a container that dies while applying an event', () => {
    test('a redelivery while the event is still being applied gets 409 with Retry-After; once that claim runs out, a redelivery applies it', async () => {
      // Prepare: a container took the event and died before applying it (its claim, 1 s here, is left).
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const { event, payload } = paymentEvent('payment_intent.succeeded', order);
      await redis().set(
        keys.stripeEvent(event.id),
        JSON.stringify({ state: 'in_progress', fingerprint: event.id }),
        'EX',
        1,
      );

      // Act
      const whileClaimed = await deliver(payload);
      await new Promise((r) => setTimeout(r, 1_100));
      const afterwards = await deliver(payload);
      const again = await deliver(payload);

      // Assess
      expect(whileClaimed.statusCode).toBe(409);
      expect(whileClaimed.body.error.code).toBe('idempotency_in_progress');
      expect(whileClaimed.headers['Retry-After']).toBeDefined();
      expect(afterwards.statusCode).toBe(200);
      expect(afterwards.body).toEqual({ received: true });
      expect(again.body).toEqual({ received: true, duplicate: true });
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await redis().ttl(keys.stripeEvent(event.id))).toBeGreaterThanOrEqual(3 * 24 * 3600);
    });
  });

  test("a signed success for one order's PaymentIntent that names another order in its metadata changes neither", async () => {
    // Prepare: Y is paid with its PaymentIntent; X was refused for stock and has none.
    const product = await givenProduct({ stock: 1 });
    const y = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);
    stripeAnswers('succeeded');
    const x = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));
    expect(x.statusCode).toBe(409);
    const xId = x.body.error.orderId as string;
    const { event } = paymentEvent('payment_intent.succeeded', y);
    const object = { ...(event.data.object as unknown as Record<string, unknown>), metadata: { order_id: xId } };

    // Act
    const response = await deliver(JSON.stringify({ ...event, data: { object } }));

    // Assess: the PaymentIntent is Y's, and Y is paid already; X stays refused, nothing refunded.
    expect(response.statusCode).toBe(200);
    expect(await orderRow(xId)).toMatchObject({
      status: 'failed',
      failure_code: 'insufficient_inventory',
      payment_intent_id: null,
    });
    expect(await orderRow(y.id)).toMatchObject({ status: 'paid', payment_intent_id: y.paymentIntentId });
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await inventoryOf(product.id)).toBe(0);
  });

  describe('delivery', () => {
    test('the same event delivered twice is acknowledged twice and applied once; its id is kept 3+ days', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const { event, payload } = paymentEvent('payment_intent.succeeded', order);

      const first = await deliver(payload);
      const second = await deliver(payload);

      expect(first.body).toEqual({ received: true });
      expect(second.statusCode).toBe(200);
      expect(second.body).toEqual({ received: true, duplicate: true });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await redis().exists(keys.stripeEvent(event.id))).toBe(1);
      expect(await redis().ttl(keys.stripeEvent(event.id))).toBeGreaterThanOrEqual(3 * 24 * 3600);
      expect(EVENT_MARK_TTL_SECONDS).toBeGreaterThanOrEqual(3 * 24 * 3600);
    });

    test('a redelivery after Redis lost the event ids still takes the stock only once', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const { payload } = paymentEvent('payment_intent.succeeded', order);
      await deliver(payload);

      await redis().flushdb();
      const again = await deliver(payload);

      expect(again.body).toEqual({ received: true });
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(product.id)).toBe(3);
    });

    test('other event types and events for no known order are acknowledged and change nothing', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const other = stripeEvent('charge.refunded', { id: 'ch_1', object: 'charge' });
      const stranger = paymentEvent('payment_intent.succeeded', {
        id: '00000000-0000-4000-8000-000000000000',
        paymentIntentId: 'pi_stranger',
        amountCents: 100,
        currency: 'usd',
      });

      const responses = [await deliver(JSON.stringify(other)), await deliver(stranger.payload)];

      expect(responses.map((r) => [r.statusCode, r.body])).toEqual([
        [200, { received: true }],
        [200, { received: true }],
      ]);
      expect(await orderRow(order.id)).toMatchObject({ status: 'pending' });
      expect(await inventoryOf(product.id)).toBe(5);
    });

    test('an order is found by its PaymentIntent id when the event has no metadata.order_id', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const { event } = paymentEvent('payment_intent.succeeded', order);
      (event.data.object as { metadata: Record<string, string> }).metadata = {};

      const response = await deliver(JSON.stringify(event));

      expect(response.statusCode).toBe(200);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    });
  });

  describe('ordering by event.created, not arrival', () => {
    test('succeeded (later created) arriving after payment_failed ends paid, with the stock taken once', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 10 });
      const succeeded = paymentEvent('payment_intent.succeeded', order, { created: now() - 5 });

      await deliver(failed.payload);
      expect(await orderRow(order.id)).toMatchObject({ status: 'failed' });
      await deliver(succeeded.payload);

      expect(await orderRow(order.id)).toMatchObject({ status: 'paid', failure_code: null });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await holdOf(order.id)).toEqual({});
      expect(await heldOf(product.id)).toBe(0);
      expect(await availableOf(product.id)).toBe(3);
    });

    test('a later payment_failed for a paid order whose PaymentIntent Stripe says succeeded: the order stays paid, its stock and money kept', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const succeeded = paymentEvent('payment_intent.succeeded', order, { created: now() - 10 });
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 5 });
      mockPaymentIntentsRetrieve.mockResolvedValue(
        paymentIntent({
          id: order.paymentIntentId,
          status: 'succeeded',
          amount: order.amountCents,
          currency: 'usd',
          orderId: order.id,
        }),
      );

      await deliver(succeeded.payload);
      expect(await inventoryOf(product.id)).toBe(3);
      const response = await deliver(failed.payload);

      expect(response.statusCode).toBe(200);
      expect(mockPaymentIntentsRetrieve).toHaveBeenCalledTimes(1);
      expect(mockPaymentIntentsRetrieve).toHaveBeenCalledWith(order.paymentIntentId);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid', failure_code: null });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await availableOf(product.id)).toBe(3);
      expect(mockRefundsCreate).not.toHaveBeenCalled();
    });

    test('a later payment_failed for a paid order whose PaymentIntent Stripe says did not succeed: failed, the stock given back once', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const succeeded = paymentEvent('payment_intent.succeeded', order, { created: now() - 10 });
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 5 });
      mockPaymentIntentsRetrieve.mockResolvedValue(
        paymentIntent({
          id: order.paymentIntentId,
          status: 'requires_payment_method',
          amount: order.amountCents,
          currency: 'usd',
          orderId: order.id,
        }),
      );

      await deliver(succeeded.payload);
      await deliver(failed.payload);
      await deliver(failed.payload); // redelivered: a duplicate, nothing moves twice

      expect(await orderRow(order.id)).toMatchObject({ status: 'failed', failure_code: 'payment_declined' });
      expect(await inventoryOf(product.id)).toBe(5);
      expect(await availableOf(product.id)).toBe(5);
      expect(mockRefundsCreate).not.toHaveBeenCalled();
    });

    test('a later payment_failed for a paid order while Stripe is unreachable: 503 with Retry-After, nothing changes, the event is not marked', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      await deliver(paymentEvent('payment_intent.succeeded', order, { created: now() - 10 }).payload);
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 5 });
      mockPaymentIntentsRetrieve.mockRejectedValue(connectionError());

      const response = await deliver(failed.payload);

      expect(response.statusCode).toBe(503);
      expect(response.headers['Retry-After']).toBe('2');
      expect(response.body.error.code).toBe('payment_provider_unavailable');
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await redis().exists(keys.stripeEvent(failed.event.id))).toBe(0);
    });

    test('an older event arriving last changes nothing', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPendingOrder([{ productId: product.id, quantity: 2 }]);
      const failed = paymentEvent('payment_intent.payment_failed', order, { created: now() - 10 });
      const succeeded = paymentEvent('payment_intent.succeeded', order, { created: now() - 5 });

      await deliver(succeeded.payload);
      await deliver(failed.payload);

      expect(await orderRow(order.id)).toMatchObject({
        status: 'paid',
        last_event_created: String(succeeded.event.created),
      });
      expect(await inventoryOf(product.id)).toBe(3);
    });

    test('a same-second tie goes to succeeded, whichever arrives first', async () => {
      const product = await givenProduct({ stock: 10 });
      const a = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const b = await givenPendingOrder([{ productId: product.id, quantity: 1 }]);
      const second = now() - 3;

      await deliver(paymentEvent('payment_intent.payment_failed', a, { created: second }).payload);
      await deliver(paymentEvent('payment_intent.succeeded', a, { created: second }).payload);
      await deliver(paymentEvent('payment_intent.succeeded', b, { created: second }).payload);
      await deliver(paymentEvent('payment_intent.payment_failed', b, { created: second }).payload);

      expect(await orderRow(a.id)).toMatchObject({ status: 'paid' });
      expect(await orderRow(b.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(product.id)).toBe(8);
    });

    test('a payment_failed older than a synchronous success does not undo it', async () => {
      const product = await givenProduct({ stock: 5 });
      const order = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);

      await deliver(paymentEvent('payment_intent.payment_failed', { ...order }, { created: now() - 60 }).payload);

      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
      expect(await inventoryOf(product.id)).toBe(4);
    });
  });

  describe('a payment that succeeds after its hold expired and the stock is gone', () => {
    test('fails the order with out_of_stock_after_payment, refunds it in full once, never drives stock negative', async () => {
      // Prepare: a 1-unit product held by a 3-D Secure order whose hold expires, then sold to another.
      const product = await givenProduct({ priceCents: 4500, stock: 1 });
      stripeAnswers('requires_action');
      const slow = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
        config: { reservationTtlSeconds: 1 },
      });
      await new Promise((r) => setTimeout(r, 1_200));
      stripeAnswers('succeeded');
      const fast = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));
      expect(fast.statusCode).toBe(201);
      expect(await inventoryOf(product.id)).toBe(0);
      mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string }) =>
        refund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent }),
      );
      const late = paymentEvent('payment_intent.succeeded', slow.body.order);

      // Act: the late success arrives, and Stripe delivers it again.
      const response = await deliver(late.payload);
      await redis().del(keys.stripeEvent(late.event.id));
      await deliver(late.payload);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(await orderRow(slow.body.order.id)).toMatchObject({
        status: 'failed',
        failure_code: 'out_of_stock_after_payment',
        failure_product_id: product.id,
      });
      expect(await inventoryOf(product.id)).toBe(0);
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      const { rows } = await db().query(
        'SELECT amount_cents, status, reason, stripe_refund_id FROM refunds WHERE order_id = $1',
        [slow.body.order.id],
      );
      expect(rows).toEqual([
        {
          amount_cents: 4500,
          status: 'succeeded',
          reason: 'out_of_stock_after_payment',
          stripe_refund_id: expect.stringMatching(/^re_/),
        },
      ]);
      const [params, options] = mockRefundsCreate.mock.calls[0] as [
        { payment_intent: string; amount: number },
        { idempotencyKey: string },
      ];
      expect(params).toMatchObject({ payment_intent: slow.body.order.paymentIntentId, amount: 4500 });
      expect(options.idempotencyKey).toMatch(/^refund-/);
    });

    test('while Stripe is unreachable for its refund: 503 with Retry-After, the event is not marked; the redelivery refunds it once', async () => {
      // Prepare: as above, a late success whose stock was sold to another order.
      const product = await givenProduct({ priceCents: 4500, stock: 1 });
      stripeAnswers('requires_action');
      const slow = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
        config: { reservationTtlSeconds: 1 },
      });
      await new Promise((r) => setTimeout(r, 1_200));
      stripeAnswers('succeeded');
      expect((await postOrder(orderBody([{ productId: product.id, quantity: 1 }]))).statusCode).toBe(201);
      const late = paymentEvent('payment_intent.succeeded', slow.body.order);
      mockRefundsCreate.mockRejectedValueOnce(connectionError());

      // Act
      const unavailable = await deliver(late.payload);

      // Assess: the order failed with its refund recorded, waiting; Stripe retries the event.
      expect(unavailable.statusCode).toBe(503);
      expect(unavailable.headers['Retry-After']).toBe('2');
      expect(unavailable.body.error.code).toBe('payment_provider_unavailable');
      expect(await redis().exists(keys.stripeEvent(late.event.id))).toBe(0);
      expect(await orderRow(slow.body.order.id)).toMatchObject({
        status: 'failed',
        failure_code: 'out_of_stock_after_payment',
      });
      const pending = await db().query<{ id: string; status: string }>(
        'SELECT id, status FROM refunds WHERE order_id = $1',
        [slow.body.order.id],
      );
      expect(pending.rows).toEqual([{ id: expect.any(String), status: 'pending' }]);
      const refundId = pending.rows[0]?.id;

      mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string }) =>
        refund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent }),
      );
      const redelivered = await deliver(late.payload);

      expect(redelivered.statusCode).toBe(200);
      const { rows } = await db().query('SELECT amount_cents, status FROM refunds WHERE order_id = $1', [
        slow.body.order.id,
      ]);
      expect(rows).toEqual([{ amount_cents: 4500, status: 'succeeded' }]);
      expect(mockRefundsCreate.mock.calls.map(([, options]) => options.idempotencyKey)).toEqual([
        `refund-${refundId}`,
        `refund-${refundId}`,
      ]);
      expect(await inventoryOf(product.id)).toBe(0);
    });
  });
});
