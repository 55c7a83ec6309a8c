import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { readConfig } from '../../lib/config';
import { RedisIdempotencyStore } from '../../lib/idempotency/redis-store';
import { release, reserve } from '../../lib/inventory/reservations';
import { loadStockMirror } from '../../lib/inventory/stock';
import { keys } from '../../lib/keys';
import { priceAndInsertOrder } from '../../lib/orders/order-store';
import { settlePaid } from '../../lib/orders/payment-state';
import { availableOf, givenProduct, heldOf, holdOf, inventoryOf, mirrorOf, orderRow } from '../helpers/builders';
import { db, redis, testDeps } from '../helpers/harness';
import {
  duringNextCharge,
  expectSellableExactly,
  orderBody,
  postOrder,
  stripeAnswers,
  stripeDeclines,
  stripeRefunds,
} from '../helpers/orders';
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
    expect(await settlePaid(testDeps(), orderId, 'pi_lifecycle', { source: 'api' })).toEqual({ kind: 'paid' });
    expect(await inventoryOf(product.id)).toBe(7);
    expect(await holdOf(orderId)).toEqual({});
    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await heldOf(product.id)).toBe(0);
    expect(await mirrorOf(product.id)).toBe(7);
    expect(await availableOf(product.id)).toBe(7);
  });

  test('release (payment failed) makes the held stock available again at once', async () => {
    const product = await givenProduct({ stock: 4 });
    const orderId = randomUUID();
    await reserve(redis(), db(), orderId, [{ productId: product.id, quantity: 4 }], TTL);
    expect(await availableOf(product.id)).toBe(0);

    await release(redis(), orderId, [product.id]);

    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(4);
    expect(await inventoryOf(product.id)).toBe(4);
  });

  test('a multi-item order where one item cannot be held holds nothing at all', async () => {
    const plenty = await givenProduct({ stock: 10 });
    const scarce = await givenProduct({ stock: 1 });
    const orderId = randomUUID();

    const result = await reserve(
      redis(),
      db(),
      orderId,
      [
        { productId: plenty.id, quantity: 5 },
        { productId: scarce.id, quantity: 2 },
      ],
      TTL,
    );

    expect(result).toEqual({ ok: false, productId: scarce.id });
    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect([await heldOf(plenty.id), await heldOf(scarce.id)]).toEqual([0, 0]);
    expect(await availableOf(plenty.id)).toBe(10);
    expect(await availableOf(scarce.id)).toBe(1);
  });

  test('a multi-item order with one line above its stock is refused through the API (409 insufficient_inventory): nothing held, nothing charged', async () => {
    const plenty = await givenProduct({ stock: 10 });
    const scarce = await givenProduct({ stock: 1 });
    stripeAnswers('succeeded');

    const response = await postOrder(
      orderBody([
        { productId: plenty.id, quantity: 5 },
        { productId: scarce.id, quantity: 2 },
      ]),
    );

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({ code: 'insufficient_inventory', productId: scarce.id });
    expect(await orderRow(response.body.error.orderId)).toMatchObject({
      status: 'failed',
      failure_code: 'insufficient_inventory',
    });
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    expect(await availableOf(plenty.id)).toBe(10);
    expect(await availableOf(scarce.id)).toBe(1);
    expect([await heldOf(plenty.id), await heldOf(scarce.id)]).toEqual([0, 0]);
    expect(await redis().keys('reservation:*')).toEqual([]);
  });

  test("a declined multi-item order releases every line: each product's full stock can be held again, inventory untouched", async () => {
    // Prepare: every line is held while Stripe is asked, one of them all of its product's stock.
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 3 });
    const pen = await givenProduct({ priceCents: 199, stock: 100 });
    const products = [mug.id, tee.id, pen.id];
    stripeDeclines('insufficient_funds');
    const whileCharging = duringNextCharge(async (orderId) => ({
      hold: await holdOf(orderId),
      available: await Promise.all(products.map(availableOf)),
    }));

    // Act
    const response = await postOrder(
      orderBody(
        [
          { productId: mug.id, quantity: 2 },
          { productId: tee.id, quantity: 3 },
          { productId: pen.id, quantity: 10 },
        ],
        'pm_card_chargeDeclined',
      ),
    );

    // Assess
    expect(response.statusCode).toBe(402);
    expect(response.body.error).toMatchObject({ code: 'payment_declined', declineCode: 'insufficient_funds' });
    const orderId = response.body.error.orderId as string;
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(whileCharging()).toEqual({ hold: { [mug.id]: '2', [tee.id]: '3', [pen.id]: '10' }, available: [8, 0, 90] });
    expect(await orderRow(orderId)).toMatchObject({
      status: 'failed',
      failure_code: 'payment_declined',
      decline_code: 'insufficient_funds',
    });
    expect(await Promise.all(products.map(inventoryOf))).toEqual([10, 3, 100]);
    expect(await redis().exists(keys.reservation(orderId))).toBe(0);
    expect(await Promise.all(products.map(heldOf))).toEqual([0, 0, 0]);
    expect(await Promise.all(products.map(mirrorOf))).toEqual([10, 3, 100]);
    expect(await Promise.all(products.map(availableOf))).toEqual([10, 3, 100]);
    await expectSellableExactly(tee.id, 3);
  });

  test('the guarded decrement takes every line or none: one short line leaves every line untouched', async () => {
    const plenty = await givenProduct({ stock: 10, priceCents: 100 });
    const scarce = await givenProduct({ stock: 2, priceCents: 100 });
    const orderId = await givenOrder([
      { productId: plenty.id, quantity: 4 },
      { productId: scarce.id, quantity: 3 },
    ]);
    stripeRefunds();

    const outcome = await settlePaid(testDeps(), orderId, 'pi_guard', { source: 'api' });

    expect(outcome).toEqual({ kind: 'out_of_stock', productId: scarce.id });
    expect(await inventoryOf(plenty.id)).toBe(10);
    expect(await inventoryOf(scarce.id)).toBe(2);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: 'pi_guard', amount: 700 }),
      expect.anything(),
    );
  });

  test("a container that found the mirror missing and loads it late, between a paid order's commit and its settle, leaves it right", async () => {
    // Prepare: container A loads the mirror (5) and holds 1; its order is paid in PostgreSQL, its
    // Redis step (drop the hold, take the unit from the mirror) not sent yet.
    const product = await givenProduct({ stock: 5 });
    const orderId = await givenOrder([{ productId: product.id, quantity: 1 }]);
    expect(await reserve(redis(), db(), orderId, [{ productId: product.id, quantity: 1 }], TTL)).toEqual({ ok: true });
    const pendingSettle = new RedisIdempotencyStore(redis()).later();
    expect(
      await settlePaid({ ...testDeps(), later: pendingSettle }, orderId, 'pi_window', { source: 'api' }, undefined, [
        { productId: product.id, quantity: 1 },
      ]),
    ).toEqual({
      kind: 'paid',
    });
    expect(await inventoryOf(product.id)).toBe(4);

    // Act: container B, which had found the mirror missing, loads it now; then A's Redis step lands.
    await loadStockMirror(db(), redis(), [product.id]);
    await pendingSettle.send();

    // Assess: the mirror is the stock on hand, nothing held, all 4 can still be sold.
    expect(await redis().get(keys.stock(product.id))).toBe('4');
    expect(await holdOf(orderId)).toEqual({});
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(4);
  });

  describe('confirming a synchronous success (the order is still pending, its lines known: one statement)', () => {
    test.each([
      { lines: 'one line', plentyQuantity: 0 },
      { lines: 'two lines', plentyQuantity: 4 },
    ])(
      'an order of $lines: stock sold elsewhere while the card was charged fails it out_of_stock_after_payment, takes no line, refunds it once in full',
      async ({ plentyQuantity }) => {
        // Prepare: the hold lives 1 s, and Stripe takes longer; meanwhile another order buys the scarce stock.
        const plenty = await givenProduct({ stock: 10, priceCents: 100 });
        const scarce = await givenProduct({ stock: 2, priceCents: 100 });
        stripeAnswers('succeeded');
        stripeRefunds();
        const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (
          params: unknown,
        ) => Promise<unknown>;
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
        expect(await orderRow(orderId)).toMatchObject({
          status: 'failed',
          failure_code: 'out_of_stock_after_payment',
          failure_product_id: scarce.id,
        });
        expect(await inventoryOf(plenty.id)).toBe(10);
        expect(await inventoryOf(scarce.id)).toBe(0);
        expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
        const amount = (plentyQuantity + 2) * 100;
        expect(mockRefundsCreate).toHaveBeenCalledWith(expect.objectContaining({ amount }), {
          idempotencyKey: expect.stringMatching(/^refund-/),
        });
        expect(await holdOf(orderId)).toEqual({});
        expect(await availableOf(plenty.id)).toBe(10);
        // The automatic refund gives back no stock: the order never took any. What is left is what can be held.
        expect([await heldOf(plenty.id), await heldOf(scarce.id)]).toEqual([0, 0]);
        await expectSellableExactly(scarce.id, 0);
        await expectSellableExactly(plenty.id, 10);
      },
    );

    test.each([
      { lines: 'one line', plentyQuantity: 0 },
      { lines: 'two lines', plentyQuantity: 4 },
    ])(
      'an order of $lines: stock partly sold while the card was charged (1 left, 2 wanted) fails it out_of_stock_after_payment, refunds it once in full, and the 1 unit stays in stock and sellable',
      async ({ plentyQuantity }) => {
        // Prepare: the hold lives 1 s, and Stripe takes longer; meanwhile another order buys 2 of the 3.
        const plenty = await givenProduct({ stock: 10, priceCents: 100 });
        const scarce = await givenProduct({ stock: 3, priceCents: 100 });
        stripeAnswers('succeeded');
        stripeRefunds();
        const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (
          params: unknown,
        ) => Promise<unknown>;
        let other: Awaited<ReturnType<typeof postOrder>> | undefined;
        mockPaymentIntentsCreate.mockImplementationOnce(async (params: unknown) => {
          await new Promise((r) => setTimeout(r, 1_300));
          other = await postOrder(orderBody([{ productId: scarce.id, quantity: 2 }]));
          return answerSucceeded(params);
        });

        // Act
        const lines = [
          ...(plentyQuantity ? [{ productId: plenty.id, quantity: plentyQuantity }] : []),
          { productId: scarce.id, quantity: 2 },
        ];
        const slow = await postOrder(orderBody(lines), { config: { reservationTtlSeconds: 1 } });

        // Assess
        expect(other?.statusCode).toBe(201);
        expect(slow.statusCode).toBe(409);
        expect(slow.body.error).toMatchObject({ code: 'insufficient_inventory', productId: scarce.id });
        const orderId = slow.body.error.orderId as string;
        expect(await orderRow(orderId)).toMatchObject({
          status: 'failed',
          failure_code: 'out_of_stock_after_payment',
          failure_product_id: scarce.id,
        });
        expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
        const amount = (plentyQuantity + 2) * 100;
        expect(mockRefundsCreate).toHaveBeenCalledWith(expect.objectContaining({ amount }), {
          idempotencyKey: expect.stringMatching(/^refund-/),
        });
        const { rows: refunds } = await db().query(
          'SELECT amount_cents, status, reason FROM refunds WHERE order_id = $1',
          [orderId],
        );
        expect(refunds).toEqual([{ amount_cents: amount, status: 'succeeded', reason: 'out_of_stock_after_payment' }]);
        // Neither line was taken: the unit left of the short line is still there, in PostgreSQL and Redis.
        expect(await inventoryOf(plenty.id)).toBe(10);
        expect(await inventoryOf(scarce.id)).toBe(1);
        expect(await holdOf(orderId)).toEqual({});
        expect([await heldOf(plenty.id), await heldOf(scarce.id)]).toEqual([0, 0]);
        await expectSellableExactly(scarce.id, 1);
        await expectSellableExactly(plenty.id, 10);
        expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      },
    );

    test('a webhook that paid the order before the synchronous answer came back: the stock is taken once', async () => {
      // Prepare: Stripe delivers payment_intent.succeeded before its API answer reaches us.
      const product = await givenProduct({ stock: 5, priceCents: 700 });
      stripeAnswers('succeeded');
      const answerSucceeded = mockPaymentIntentsCreate.getMockImplementation() as (
        params: unknown,
      ) => Promise<Stripe.PaymentIntent>;
      let delivered: Awaited<ReturnType<typeof deliver>> | undefined;
      mockPaymentIntentsCreate.mockImplementationOnce(async (params: unknown) => {
        const intent = await answerSucceeded(params);
        const order = {
          id: intent.metadata.order_id as string,
          paymentIntentId: intent.id,
          amountCents: intent.amount,
          currency: intent.currency,
        };
        delivered = await deliver(paymentEvent('payment_intent.succeeded', order).payload);
        return intent;
      });

      // Act
      const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]));

      // Assess
      expect(delivered?.statusCode).toBe(200);
      expect(response.statusCode).toBe(201);
      expect(await orderRow(response.body.order.id)).toMatchObject({
        status: 'paid',
        payment_intent_id: response.body.order.paymentIntentId,
      });
      expect(await inventoryOf(product.id)).toBe(3);
      expect(await holdOf(response.body.order.id)).toEqual({});
      expect(await heldOf(product.id)).toBe(0);
      expect(await mirrorOf(product.id)).toBe(3);
      expect(await availableOf(product.id)).toBe(3);
    });
  });

  describe('a hold lives RESERVATION_TTL_SECONDS, on both paths that take one', () => {
    const paths = [
      { path: 'stock mirror loaded: key and hold taken by one script (claimAndReserve)', loaded: true },
      { path: 'stock mirror not loaded: held by reserve() once the order is recorded', loaded: false },
    ];

    test('the default, when nothing is set, is 900 s', () => {
      expect(readConfig({}).reservationTtlSeconds).toBe(900);
      expect(readConfig({ RESERVATION_TTL_SECONDS: '321' }).reservationTtlSeconds).toBe(321);
    });

    test.each(
      paths.flatMap((p) => [
        { ...p, setting: 'RESERVATION_TTL_SECONDS=321', env: { RESERVATION_TTL_SECONDS: '321' }, seconds: 321 },
        { ...p, setting: 'nothing set (the default)', env: {}, seconds: 900 },
      ]),
    )(
      "$setting, $path: the reservation key and the product's hold both expire after it",
      async ({ loaded, env, seconds }) => {
        // Prepare: the service configured from this environment alone (not the suite's pinned config).
        const product = await givenProduct({ stock: 3 });
        if (loaded) await loadStockMirror(db(), redis(), [product.id]);
        stripeAnswers('processing');

        // Act
        const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
          config: readConfig(env),
        });

        // Assess: the reservation key's TTL, and the expiry that frees the stock (holds:{p}, server clock).
        expect(response.statusCode).toBe(202);
        const orderId = response.body.order.id;
        const ttl = await redis().ttl(keys.reservation(orderId));
        expect(ttl).toBeGreaterThan(seconds - 10);
        expect(ttl).toBeLessThanOrEqual(seconds);
        const [member, score] = await redis().zrange(keys.holds(product.id), 0, -1, 'WITHSCORES');
        const [s, us] = await redis().time();
        const expiresInMs = Number(score) - (Number(s) * 1000 + Math.floor(Number(us) / 1000));
        expect(member).toBe(`${orderId}|1`);
        expect(expiresInMs).toBeGreaterThan((seconds - 10) * 1000);
        expect(expiresInMs).toBeLessThanOrEqual(seconds * 1000);
        expect(await heldOf(product.id)).toBe(1);
      },
    );
  });

  test('an expired hold gives its stock back by itself, with no sweeper (real 1 s TTL, really waited)', async () => {
    const product = await givenProduct({ stock: 2 });
    stripeAnswers('requires_action');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]), {
      config: { reservationTtlSeconds: 1 },
    });
    expect(response.statusCode).toBe(202);
    expect(await availableOf(product.id)).toBe(0);
    const blocked = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]));
    expect(blocked.statusCode).toBe(409);

    await new Promise((r) => setTimeout(r, 1_300));

    expect(await redis().exists(keys.reservation(response.body.order.id))).toBe(0);
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(2);
    const later = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]));
    expect(later.statusCode).toBe(202);
  });
});
