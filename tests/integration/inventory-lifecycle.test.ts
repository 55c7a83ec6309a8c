import { randomUUID } from 'node:crypto';
import { keys } from '../../lib/inventory/keys';
import { release, reserve } from '../../lib/inventory/reservations';
import { batchFor } from '../../lib/inventory/scripts';
import { loadStockMirror } from '../../lib/inventory/stock';
import { priceAndInsertOrder } from '../../lib/orders/order-store';
import { settlePaid } from '../../lib/orders/payment-state';
import type Stripe from 'stripe';
import { availableOf, givenProduct, holdOf, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis, testDeps } from '../helpers/harness';
import { orderBody, postOrder, stripeAnswers, stripeRefunds } from '../helpers/orders';
import { mockPaymentIntentsCreate, mockRefundsCreate } from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';

/** A pending order row, as create-order records it before the charge. */
async function givenOrder(lines: { productId: string; quantity: number }[]): Promise<string> {
  const id = randomUUID();
  const { inserted } = await priceAndInsertOrder(
    db(),
    { id, idempotencyKey: `key-${id}`, requestHash: 'h', customerId: 'cus_1', paymentMethodId: 'pm_card_visa', lines },
    60,
    99_999_999,
  );
  expect(inserted).toBe(true);
  return id;
}

const TTL = 900;

describe('stock in three phases: reserve, confirm, release', () => {
  test('reserve holds stock in Redis without touching inventory; confirm takes it and drops the hold', async () => {
    const product = await givenProduct({ stock: 10 });
    const orderId = await givenOrder([{ productId: product.id, quantity: 3 }]);

    // Phase 1: reserve
    expect(await reserve(redis(), db(), orderId, [{ productId: product.id, quantity: 3 }], TTL)).toEqual({ ok: true });
    expect(await holdOf(orderId)).toEqual({ [product.id]: '3' });
    expect(await availableOf(product.id)).toBe(7);
    expect(await inventoryOf(product.id)).toBe(10);

    // Phase 2: confirm (payment succeeded)
    expect(await settlePaid(testDeps(), orderId, 'pi_lifecycle')).toEqual({ kind: 'paid' });
    expect(await inventoryOf(product.id)).toBe(7);
    expect(await holdOf(orderId)).toEqual({});
    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await availableOf(product.id)).toBe(7);
  });

  test('release (payment failed) makes the held stock available again at once', async () => {
    const product = await givenProduct({ stock: 4 });
    const orderId = randomUUID();
    await reserve(redis(), db(), orderId, [{ productId: product.id, quantity: 4 }], TTL);
    expect(await availableOf(product.id)).toBe(0);

    await release(redis(), orderId, [product.id]);

    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await availableOf(product.id)).toBe(4);
    expect(await inventoryOf(product.id)).toBe(4);
  });

  test('a multi-item order where one item cannot be held holds nothing at all', async () => {
    const plenty = await givenProduct({ stock: 10 });
    const scarce = await givenProduct({ stock: 1 });
    const orderId = randomUUID();

    const result = await reserve(redis(), db(), orderId, [
      { productId: plenty.id, quantity: 5 },
      { productId: scarce.id, quantity: 2 },
    ], TTL);

    expect(result).toEqual({ ok: false, productId: scarce.id });
    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await availableOf(plenty.id)).toBe(10);
    expect(await availableOf(scarce.id)).toBe(1);
  });

  test('a declined multi-item order through the API leaves nothing held', async () => {
    const plenty = await givenProduct({ stock: 10 });
    const scarce = await givenProduct({ stock: 1 });
    stripeAnswers('succeeded');

    const response = await postOrder(orderBody([{ productId: plenty.id, quantity: 5 }, { productId: scarce.id, quantity: 2 }]));

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'insufficient_inventory', productId: scarce.id });
    expect(await availableOf(plenty.id)).toBe(10);
    expect(await redis().keys('reservation:*')).toEqual([]);
  });

  test('the guarded decrement takes every line or none: one short line leaves every line untouched', async () => {
    const plenty = await givenProduct({ stock: 10, priceCents: 100 });
    const scarce = await givenProduct({ stock: 2, priceCents: 100 });
    const orderId = await givenOrder([{ productId: plenty.id, quantity: 4 }, { productId: scarce.id, quantity: 3 }]);
    stripeRefunds();

    const outcome = await settlePaid(testDeps(), orderId, 'pi_guard');

    expect(outcome).toEqual({ kind: 'out_of_stock', productId: scarce.id });
    expect(await inventoryOf(plenty.id)).toBe(10);
    expect(await inventoryOf(scarce.id)).toBe(2);
    expect(mockRefundsCreate).toHaveBeenCalledWith(expect.objectContaining({ payment_intent: 'pi_guard', amount: 700 }), expect.anything());
  });

  test('a container that found the mirror missing and loads it late, between a paid order\'s commit and its settle, leaves it right', async () => {
    // Prepare: container A loads the mirror (5) and holds 1; its order is paid in PostgreSQL, its
    // Redis step (drop the hold, take the unit from the mirror) not sent yet.
    const product = await givenProduct({ stock: 5 });
    const orderId = await givenOrder([{ productId: product.id, quantity: 1 }]);
    expect(await reserve(redis(), db(), orderId, [{ productId: product.id, quantity: 1 }], TTL)).toEqual({ ok: true });
    const pendingSettle = batchFor(redis());
    expect(await settlePaid({ ...testDeps(), redisBatch: pendingSettle }, orderId, 'pi_window', undefined, [{ productId: product.id, quantity: 1 }])).toEqual({
      kind: 'paid',
    });
    expect(await inventoryOf(product.id)).toBe(4);

    // Act: container B, which had found the mirror missing, loads it now; then A's Redis step lands.
    await loadStockMirror(db(), redis(), [product.id]);
    await pendingSettle.exec();

    // Assess: the mirror is the stock on hand, nothing held, all 4 can still be sold.
    expect(await redis().get(keys.stock(product.id))).toBe('4');
    expect(await holdOf(orderId)).toEqual({});
    expect(await availableOf(product.id)).toBe(4);
  });

  describe('confirming a synchronous success (the order is still pending, its lines known: one statement)', () => {
    test.each([
      { lines: 'one line', plentyQuantity: 0 },
      { lines: 'two lines', plentyQuantity: 4 },
    ])('an order of $lines: stock sold elsewhere while the card was charged fails it out_of_stock_after_payment, takes no line, refunds it once in full', async ({ plentyQuantity }) => {
      // Prepare: the hold lives 1 s, and Stripe takes longer; meanwhile another order buys the scarce stock.
      const plenty = await givenProduct({ stock: 10, priceCents: 100 });
      const scarce = await givenProduct({ stock: 2, priceCents: 100 });
      stripeAnswers('succeeded');
      stripeRefunds();
      const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (params: unknown) => Promise<unknown>;
      let other: Awaited<ReturnType<typeof postOrder>> | undefined;
      mockPaymentIntentsCreate.mockImplementationOnce(async (params: unknown) => {
        await new Promise((r) => setTimeout(r, 1_300));
        other = await postOrder(orderBody([{ productId: scarce.id, quantity: 2 }]));
        return answerSucceeded(params);
      });
      const lines = [
        ...(plentyQuantity ? [{ productId: plenty.id, quantity: plentyQuantity }] : []),
        { productId: scarce.id, quantity: 2 },
      ];

      // Act
      const slow = await postOrder(orderBody(lines), { config: { reservationTtlSeconds: 1 } });

      // Assess
      expect(other?.statusCode).toBe(201);
      expect(slow.statusCode).toBe(409);
      expect(slow.body.error).toMatchObject({ code: 'insufficient_inventory', productId: scarce.id });
      const orderId = slow.body.error.orderId as string;
      expect(await orderRow(orderId)).toMatchObject({ status: 'failed', failure_code: 'out_of_stock_after_payment', failure_product_id: scarce.id });
      expect(await inventoryOf(plenty.id)).toBe(10);
      expect(await inventoryOf(scarce.id)).toBe(0);
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      const amount = (plentyQuantity + 2) * 100;
      expect(mockRefundsCreate).toHaveBeenCalledWith(expect.objectContaining({ amount }), { idempotencyKey: expect.stringMatching(/^refund-/) });
      expect(await holdOf(orderId)).toEqual({});
      expect(await availableOf(plenty.id)).toBe(10);
    });

    test('a webhook that paid the order before the synchronous answer came back: the stock is taken once', async () => {
      // Prepare: Stripe delivers payment_intent.succeeded before its API answer reaches us.
      const product = await givenProduct({ stock: 5, priceCents: 700 });
      stripeAnswers('succeeded');
      const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (params: unknown) => Promise<Stripe.PaymentIntent>;
      let delivered: Awaited<ReturnType<typeof deliver>> | undefined;
      mockPaymentIntentsCreate.mockImplementationOnce(async (params: unknown) => {
        const intent = await answerSucceeded(params);
        const order = { id: intent.metadata.order_id as string, paymentIntentId: intent.id, amountCents: intent.amount, currency: intent.currency };
        delivered = await deliver(paymentEvent('payment_intent.succeeded', order).payload);
        return intent;
      });

      // Act
      const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]));

      // Assess
      expect(delivered?.statusCode).toBe(200);
      expect(response.statusCode).toBe(201);
      expect(await orderRow(response.body.order.id)).toMatchObject({ status: 'paid', payment_intent_id: response.body.order.paymentIntentId });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await holdOf(response.body.order.id)).toEqual({});
      expect(await availableOf(product.id)).toBe(3);
    });
  });

  test('a hold lives RESERVATION_TTL_SECONDS (900 s by default) in Redis', async () => {
    const product = await givenProduct({ stock: 3 });
    stripeAnswers('processing');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));

    const ttl = await redis().ttl(keys.reservation(response.body.order.id));
    expect(ttl).toBeGreaterThan(890);
    expect(ttl).toBeLessThanOrEqual(900);
  });

  test('an expired hold gives its stock back by itself, with no sweeper (real 1 s TTL, really waited)', async () => {
    const product = await givenProduct({ stock: 2 });
    stripeAnswers('requires_action');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]), { config: { reservationTtlSeconds: 1 } });
    expect(response.statusCode).toBe(202);
    expect(await availableOf(product.id)).toBe(0);
    const blocked = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));
    expect(blocked.statusCode).toBe(409);

    await new Promise((r) => setTimeout(r, 1_300));

    expect(await redis().exists(keys.reservation(response.body.order.id))).toBe(0);
    expect(await availableOf(product.id)).toBe(2);
    const later = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]));
    expect(later.statusCode).toBe(202);
  });
});
