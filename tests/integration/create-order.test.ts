import { loadStockMirror } from '../../lib/inventory/stock';
import { keys } from '../../lib/keys';
import {
  availableOf,
  countRows,
  givenProduct,
  heldOf,
  holdOf,
  idempotencyRecord,
  inventoryOf,
  mirrorOf,
  orderRow,
} from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import { duringNextCharge, expectedPaymentIntent, orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { cardDeclinedError, paymentIntent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsCreate } from '../helpers/stripe-mock';

describe('POST /orders', () => {
  test('charges the exact amount from the catalogue, marks the order paid and takes the stock', async () => {
    // Prepare
    const product = await givenProduct({ priceCents: 1250, stock: 5 });
    stripeAnswers('succeeded');

    // Act
    const response = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]), {
      idempotencyKey: 'key-success',
    });

    // Assess
    expect(response.statusCode).toBe(201);
    const order = response.body.order;
    expect(order).toEqual({
      id: expect.any(String),
      status: 'paid',
      amountCents: 2500,
      currency: 'usd',
      paymentIntentId: expect.stringMatching(/^pi_/),
      items: [{ productId: product.id, quantity: 2, unitPriceCents: 1250 }],
    });
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(mockPaymentIntentsCreate).toHaveBeenCalledWith(...expectedPaymentIntent(order.id, 2500));
    expect(await orderRow(order.id)).toMatchObject({
      status: 'paid',
      amount_cents: 2500,
      payment_intent_id: order.paymentIntentId,
      failure_code: null,
    });
    expect(await inventoryOf(product.id)).toBe(3);
    expect(await holdOf(order.id)).toEqual({});
    // The hold left held:{p} as the units left the mirror (settle deletes the reservation hash whatever it released).
    expect(await heldOf(product.id)).toBe(0);
    expect(await mirrorOf(product.id)).toBe(3);
    expect(await availableOf(product.id)).toBe(3);
    expect(await idempotencyRecord('key-success')).toMatchObject({ state: 'done', response: { statusCode: 201 } });
  });

  test('returns 409 insufficient_inventory, records a failed order and charges nothing when the quantity is above stock', async () => {
    const product = await givenProduct({ stock: 2 });
    stripeAnswers('succeeded');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 3 }]), {
      idempotencyKey: 'key-short',
    });

    expect(response.statusCode).toBe(409);
    expect(response.body.error).toMatchObject({
      code: 'insufficient_inventory',
      productId: product.id,
      orderId: expect.any(String),
    });
    expect(await orderRow(response.body.error.orderId)).toMatchObject({
      status: 'failed',
      failure_code: 'insufficient_inventory',
    });
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    expect(await inventoryOf(product.id)).toBe(2);
    expect(await holdOf(response.body.error.orderId)).toEqual({});
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(2);
    expect(await idempotencyRecord('key-short')).toMatchObject({ state: 'done', response: { statusCode: 409 } });
  });

  test("returns 402 payment_declined with Stripe's decline code, fails the order and frees the hold", async () => {
    const product = await givenProduct({ priceCents: 800, stock: 4 });
    mockPaymentIntentsCreate.mockImplementation(
      async (params: { amount: number; currency: string; metadata: { order_id: string } }) => {
        const intent = paymentIntent({
          status: 'requires_payment_method',
          amount: params.amount,
          currency: params.currency,
          orderId: params.metadata.order_id,
          declineCode: 'insufficient_funds',
        });
        throw cardDeclinedError({ intent, declineCode: 'insufficient_funds' });
      },
    );

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }], 'pm_card_chargeDeclined'), {
      idempotencyKey: 'key-declined',
    });

    expect(response.statusCode).toBe(402);
    expect(response.body.error).toMatchObject({
      code: 'payment_declined',
      declineCode: 'insufficient_funds',
      orderId: expect.any(String),
    });
    const orderId = response.body.error.orderId;
    expect(mockPaymentIntentsCreate).toHaveBeenCalledWith(
      ...expectedPaymentIntent(orderId, 800, 'usd', 'pm_card_chargeDeclined'),
    );
    expect(await orderRow(orderId)).toMatchObject({
      status: 'failed',
      failure_code: 'payment_declined',
      decline_code: 'insufficient_funds',
      payment_intent_id: expect.stringMatching(/^pi_/),
    });
    expect(await inventoryOf(product.id)).toBe(4);
    expect(await holdOf(orderId)).toEqual({});
    expect(await heldOf(product.id)).toBe(0);
    expect(await mirrorOf(product.id)).toBe(4);
    expect(await availableOf(product.id)).toBe(4);
    expect(await idempotencyRecord('key-declined')).toMatchObject({ state: 'done', response: { statusCode: 402 } });
  });

  test.each([
    { path: 'stock mirrors not loaded yet (held by reserve())', loaded: false },
    { path: 'stock mirrors loaded (key and hold taken by one script)', loaded: true },
  ])(
    "charges the sum of every line of a multi-item order once, holds every line while charging, then takes each product's stock ($path)",
    async ({ loaded }) => {
      // Prepare
      const mug = await givenProduct({ priceCents: 1500, stock: 10 });
      const tee = await givenProduct({ priceCents: 2599, stock: 3 });
      const pen = await givenProduct({ priceCents: 199, stock: 100 });
      const products = [mug.id, tee.id, pen.id];
      if (loaded) await loadStockMirror(db(), redis(), products);
      stripeAnswers('succeeded');
      const whileCharging = duringNextCharge(async (orderId) => ({
        hold: await holdOf(orderId),
        held: await Promise.all(products.map(heldOf)),
        available: await Promise.all(products.map(availableOf)),
      }));

      // Act
      const response = await postOrder(
        orderBody([
          { productId: mug.id, quantity: 2 },
          { productId: tee.id, quantity: 3 },
          { productId: pen.id, quantity: 10 },
        ]),
        { idempotencyKey: 'key-multi' },
      );

      // Assess
      expect(response.statusCode).toBe(201);
      const orderId = response.body.order.id;
      const amount = 2 * 1500 + 3 * 2599 + 10 * 199;
      expect(response.body.order).toMatchObject({ status: 'paid', amountCents: amount });
      expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
      expect(mockPaymentIntentsCreate).toHaveBeenCalledWith(...expectedPaymentIntent(orderId, amount));
      expect(await orderRow(orderId)).toMatchObject({ status: 'paid', amount_cents: amount });
      // Every line was held while the card was charged ...
      expect(whileCharging()).toEqual({
        hold: { [mug.id]: '2', [tee.id]: '3', [pen.id]: '10' },
        held: [2, 3, 10],
        available: [8, 0, 90],
      });
      // ... and every line's hold left Redis as its units left the mirror and PostgreSQL.
      expect([await inventoryOf(mug.id), await inventoryOf(tee.id), await inventoryOf(pen.id)]).toEqual([8, 0, 90]);
      expect(await redis().exists(keys.reservation(orderId))).toBe(0);
      expect(await Promise.all(products.map(heldOf))).toEqual([0, 0, 0]);
      expect(await Promise.all(products.map(mirrorOf))).toEqual([8, 0, 90]);
      expect(await Promise.all(products.map(availableOf))).toEqual([8, 0, 90]);
      expect(await idempotencyRecord('key-multi')).toMatchObject({ state: 'done', response: { statusCode: 201 } });
    },
  );

  test('returns 202 pending and keeps the hold while the payment needs 3-D Secure', async () => {
    const product = await givenProduct({ stock: 2 });
    stripeAnswers('requires_action');

    const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
      idempotencyKey: 'key-3ds',
    });

    expect(response.statusCode).toBe(202);
    const orderId = response.body.order.id;
    expect(response.body.order).toMatchObject({ status: 'pending', paymentIntentId: expect.stringMatching(/^pi_/) });
    expect(await orderRow(orderId)).toMatchObject({
      status: 'pending',
      payment_intent_id: response.body.order.paymentIntentId,
    });
    expect(await inventoryOf(product.id)).toBe(2);
    expect(await holdOf(orderId)).toEqual({ [product.id]: '1' });
    expect(await heldOf(product.id)).toBe(1);
    expect(await availableOf(product.id)).toBe(1);
    expect(await idempotencyRecord('key-3ds')).toMatchObject({ state: 'done', response: { statusCode: 202 } });
  });

  test('takes prices from the catalogue, never from the client', async () => {
    const product = await givenProduct({ priceCents: 4200 });
    stripeAnswers('succeeded');

    const response = await postOrder({ ...orderBody([{ productId: product.id, quantity: 1 }]), amountCents: 1 });

    expect(response.statusCode).toBe(400);
    expect(response.body.error.code).toBe('invalid_request');
    expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  });

  describe('rejects bad input with a 4xx and writes nothing', () => {
    const cases: [string, unknown, string][] = [
      ['items missing', { customerId: 'cus_1', paymentMethodId: 'pm_card_visa' }, 'items'],
      ['items empty', orderBody([]), 'items'],
      ['quantity zero', orderBody([{ productId: 'sku_x', quantity: 0 }]), 'items[0].quantity'],
      ['quantity fractional', orderBody([{ productId: 'sku_x', quantity: 1.5 }]), 'items[0].quantity'],
      [
        'quantity as a string',
        orderBody([{ productId: 'sku_x', quantity: '2' as unknown as number }]),
        'items[0].quantity',
      ],
      ['quantity above 10000', orderBody([{ productId: 'sku_x', quantity: 10_001 }]), 'items[0].quantity'],
      [
        'a product twice',
        orderBody([
          { productId: 'sku_x', quantity: 1 },
          { productId: 'sku_x', quantity: 1 },
        ]),
        'items[1].productId',
      ],
      [
        'customerId missing',
        { paymentMethodId: 'pm_card_visa', items: [{ productId: 'sku_x', quantity: 1 }] },
        'customerId',
      ],
      ['a body that is not an object', [1, 2], 'body'],
    ];
    test.each(cases)('400 invalid_request when %s', async (_name, body, field) => {
      const response = await postOrder(body);

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field });
      expect(await countRows('orders')).toBe(0);
      expect(await redis().dbsize()).toBe(0);
    });

    test('400 invalid_request for malformed JSON', async () => {
      const { createOrderHandler } = await import('../../handlers/create-order');
      const { testDeps } = await import('../helpers/harness');
      const { apiGatewayEvent, invoke } = await import('../helpers/events');
      const response = await invoke(
        createOrderHandler(() => testDeps()),
        apiGatewayEvent({
          method: 'POST',
          path: '/orders',
          headers: { 'idempotency-key': 'k1' },
          rawBody: '{"items": [',
        }),
      );

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field: 'body' });
      expect(await countRows('orders')).toBe(0);
      expect(await redis().dbsize()).toBe(0);
    });

    test('400 idempotency_key_required without the Idempotency-Key header', async () => {
      const product = await givenProduct();
      const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: null });

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'idempotency_key_required', field: 'Idempotency-Key' });
      expect(await countRows('orders')).toBe(0);
    });

    test('400 invalid_request for an Idempotency-Key longer than 255 characters', async () => {
      const product = await givenProduct();
      const response = await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), {
        idempotencyKey: 'k'.repeat(256),
      });

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field: 'Idempotency-Key' });
    });

    test('422 unknown_product naming the product, with nothing held or stored', async () => {
      const product = await givenProduct();
      const response = await postOrder(
        orderBody([
          { productId: product.id, quantity: 1 },
          { productId: 'sku_nope', quantity: 1 },
        ]),
        { idempotencyKey: 'key-unknown' },
      );

      expect(response.statusCode).toBe(422);
      expect(response.body.error).toMatchObject({ code: 'unknown_product', productId: 'sku_nope' });
      expect(await countRows('orders')).toBe(0);
      expect(await redis().exists(keys.idempotency('key-unknown'))).toBe(0);
      expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    });

    // Products that have been ordered before have their stock mirror in Redis, so the script that takes
    // the key holds their stock at once: a refusal must give that hold back and leave only the mirrors.
    test('422 mixed_currency when items are priced in different currencies, holding nothing', async () => {
      const usd = await givenProduct({ currency: 'usd', stock: 3 });
      const eur = await givenProduct({ currency: 'eur', stock: 3 });
      await loadStockMirror(db(), redis(), [usd.id, eur.id]);
      const response = await postOrder(
        orderBody([
          { productId: usd.id, quantity: 1 },
          { productId: eur.id, quantity: 1 },
        ]),
        { idempotencyKey: 'key-mixed' },
      );

      expect(response.statusCode).toBe(422);
      expect(response.body.error.code).toBe('mixed_currency');
      expect(await countRows('orders')).toBe(0);
      expect((await redis().keys('*')).sort()).toEqual([keys.stock(usd.id), keys.stock(eur.id)].sort());
      expect(await availableOf(usd.id)).toBe(3);
      expect(await availableOf(eur.id)).toBe(3);
    });

    test('422 amount_too_large when the total is above what a card payment may carry, holding nothing', async () => {
      const jewel = await givenProduct({ priceCents: 50_000_000, stock: 10 });
      await loadStockMirror(db(), redis(), [jewel.id]);
      const response = await postOrder(orderBody([{ productId: jewel.id, quantity: 2 }]));

      expect(response.statusCode).toBe(422);
      expect(response.body.error).toMatchObject({
        code: 'amount_too_large',
        amountCents: 100_000_000,
        maxAmountCents: 99_999_999,
      });
      expect(await countRows('orders')).toBe(0);
      expect(await redis().keys('*')).toEqual([keys.stock(jewel.id)]);
      expect(await availableOf(jewel.id)).toBe(10);
      expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
    });

    test('413 payload_too_large for a body over 64 KB', async () => {
      const response = await postOrder({
        ...orderBody([{ productId: 'sku_x', quantity: 1 }]),
        customerId: 'c'.repeat(70_000),
      });

      expect(response.statusCode).toBe(413);
      expect(response.body.error.code).toBe('payload_too_large');
      expect(await countRows('orders')).toBe(0);
    });
  });
});
