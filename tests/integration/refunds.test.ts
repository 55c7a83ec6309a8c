import { setStock } from '../../lib/inventory/stock';
import { availableOf, countRows, givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import {
  expectSellableExactly,
  givenDeclinedOrder,
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  postRefund,
  stripeRefunds,
} from '../helpers/orders';
import { connectionError, invalidRequestError, refund as stripeRefund } from '../helpers/stripe-fixtures';
import { mockRefundsCreate, mockRefundsList } from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';

async function refundRows(orderId: string) {
  const { rows } = await db().query<{
    id: string;
    amount_cents: number;
    stripe_refund_id: string | null;
    status: string;
  }>('SELECT id, amount_cents, stripe_refund_id, status FROM refunds WHERE order_id = $1 ORDER BY created_at', [
    orderId,
  ]);
  return rows;
}

describe('POST /orders/{orderId}/refunds', () => {
  test('a full refund (no items) refunds every line, gives all their stock back and marks the order refunded', async () => {
    // Prepare
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 2 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();

    // Act
    const response = await postRefund(order.id, { reason: 'requested_by_customer' });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.body.order).toEqual({ id: order.id, status: 'refunded' });
    expect(response.body.refund).toMatchObject({
      orderId: order.id,
      amountCents: 5599,
      stripeRefundId: expect.stringMatching(/^re_/),
      items: [
        { productId: mug.id, quantity: 2, amountCents: 3000 },
        { productId: tee.id, quantity: 1, amountCents: 2599 },
      ].sort((a, b) => a.productId.localeCompare(b.productId)),
    });
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: order.paymentIntentId,
        amount: 5599,
        reason: 'requested_by_customer',
        metadata: { order_id: order.id, refund_id: response.body.refund.id },
      },
      { idempotencyKey: `refund-${response.body.refund.id}` },
    );
    expect(await refundRows(order.id)).toEqual([
      {
        id: response.body.refund.id,
        amount_cents: 5599,
        stripe_refund_id: response.body.refund.stripeRefundId,
        status: 'succeeded',
      },
    ]);
    expect(await inventoryOf(mug.id)).toBe(10);
    expect(await inventoryOf(tee.id)).toBe(5);
    expect(await orderRow(order.id)).toMatchObject({ status: 'refunded' });
    // What a buyer can hold now: the units came back to the Redis stock mirror too, on every line.
    await expectSellableExactly(mug.id, 10);
    await expectSellableExactly(tee.id, 5);
  });

  test('a partial refund gives back only those quantities and keeps the order paid', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const tee = await givenProduct({ priceCents: 2599, stock: 5 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 3 },
      { productId: tee.id, quantity: 1 },
    ]);
    stripeRefunds();

    const response = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });

    expect(response.statusCode).toBe(201);
    expect(response.body.order).toEqual({ id: order.id, status: 'paid' });
    expect(response.body.refund).toMatchObject({
      amountCents: 1500,
      items: [{ productId: mug.id, quantity: 1, amountCents: 1500 }],
    });
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: order.paymentIntentId, amount: 1500 }),
      { idempotencyKey: `refund-${response.body.refund.id}` },
    );
    expect(await refundRows(order.id)).toEqual([expect.objectContaining({ amount_cents: 1500, status: 'succeeded' })]);
    expect(await inventoryOf(mug.id)).toBe(8);
    expect(await inventoryOf(tee.id)).toBe(4);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    await expectSellableExactly(mug.id, 8);
    await expectSellableExactly(tee.id, 4);
  });

  test('a refund of some units of several lines gives each line exactly its units back: they, and no more, can be bought again', async () => {
    // Prepare: the order bought every unit there was, so only refunded units can be sold again.
    const mug = await givenProduct({ priceCents: 1500, stock: 3 });
    const tee = await givenProduct({ priceCents: 2599, stock: 2 });
    const order = await givenPaidOrder([
      { productId: mug.id, quantity: 3 },
      { productId: tee.id, quantity: 2 },
    ]);
    expect([await availableOf(mug.id), await availableOf(tee.id)]).toEqual([0, 0]);
    stripeRefunds();

    // Act
    const response = await postRefund(order.id, {
      items: [
        { productId: mug.id, quantity: 2 },
        { productId: tee.id, quantity: 1 },
      ],
    });

    // Assess
    expect(response.statusCode).toBe(201);
    expect(response.body.order).toEqual({ id: order.id, status: 'paid' });
    expect(response.body.refund).toMatchObject({ amountCents: 2 * 1500 + 2599, status: 'succeeded' });
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: order.paymentIntentId, amount: 5599 }),
      {
        idempotencyKey: `refund-${response.body.refund.id}`,
      },
    );
    expect([await inventoryOf(mug.id), await inventoryOf(tee.id)]).toEqual([2, 1]);
    await expectSellableExactly(mug.id, 2);
    await expectSellableExactly(tee.id, 1);
  });

  test('partial refunds that together cover everything end with the order refunded, each with its own row', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();

    const first = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    const second = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });

    expect([first.statusCode, second.statusCode]).toEqual([201, 201]);
    expect(second.body.order.status).toBe('refunded');
    expect((await refundRows(order.id)).map((r) => r.amount_cents)).toEqual([1000, 2000]);
    expect(mockRefundsCreate.mock.calls.map(([params]) => params.amount)).toEqual([1000, 2000]);
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  describe('409 order_not_refundable for an order that is not paid: nothing sent to Stripe, no stock moved', () => {
    /** Asks for a full refund of `orderId` and checks the refusal changed nothing: no Stripe call, no refund row, no stock. */
    async function expectRefused(orderId: string, productId: string, status: string) {
      const before = {
        inventory: await inventoryOf(productId),
        available: await availableOf(productId),
        refunds: await countRows('refunds'),
      };
      mockRefundsCreate.mockClear();
      stripeRefunds();

      const response = await postRefund(orderId);

      expect(response.statusCode).toBe(409);
      expect(response.body.error).toMatchObject({ code: 'order_not_refundable', orderId, status });
      expect(mockRefundsCreate).not.toHaveBeenCalled();
      expect({
        inventory: await inventoryOf(productId),
        available: await availableOf(productId),
        refunds: await countRows('refunds'),
      }).toEqual(before);
      expect(await orderRow(orderId)).toMatchObject({ status });
      return before;
    }

    test('pending (waiting for 3-D Secure): refused, its hold kept', async () => {
      const mug = await givenProduct({ stock: 10 });
      const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);

      const before = await expectRefused(order.id, mug.id, 'pending');

      expect(before).toEqual({ inventory: 10, available: 9, refunds: 0 });
    });

    test('failed because the card was declined (with a PaymentIntent): refused, and the stock it never took is not "given back"', async () => {
      const mug = await givenProduct({ stock: 10 });
      const orderId = await givenDeclinedOrder([{ productId: mug.id, quantity: 2 }]);
      expect(await orderRow(orderId)).toMatchObject({
        failure_code: 'payment_declined',
        payment_intent_id: expect.stringMatching(/^pi_/),
      });

      const before = await expectRefused(orderId, mug.id, 'failed');

      expect(before).toEqual({ inventory: 10, available: 10, refunds: 0 });
      await expectSellableExactly(mug.id, 10);
    });

    test('failed out_of_stock_after_payment (already refunded in full automatically): refused, not refunded twice', async () => {
      // Prepare: while a 3-D Secure payment is open, the stock is written down to 0 (a stocktake); then
      // Stripe reports the payment succeeded: the order fails for stock and is refunded in full, once.
      const mug = await givenProduct({ priceCents: 900, stock: 1 });
      const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
      await setStock(db(), redis(), mug.id, 0);
      stripeRefunds();
      expect((await deliver(paymentEvent('payment_intent.succeeded', order).payload)).statusCode).toBe(200);
      expect(await orderRow(order.id)).toMatchObject({
        status: 'failed',
        failure_code: 'out_of_stock_after_payment',
        payment_intent_id: order.paymentIntentId,
      });
      expect(await refundRows(order.id)).toEqual([expect.objectContaining({ amount_cents: 900, status: 'succeeded' })]);
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);

      const before = await expectRefused(order.id, mug.id, 'failed');

      expect(before).toEqual({ inventory: 0, available: 0, refunds: 1 });
      expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['succeeded']);
      await expectSellableExactly(mug.id, 0);
    });

    test('refunded (everything already refunded): refused, its stock not given back twice', async () => {
      const mug = await givenProduct({ stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      stripeRefunds();
      expect((await postRefund(order.id)).statusCode).toBe(201);

      const before = await expectRefused(order.id, mug.id, 'refunded');

      expect(before).toEqual({ inventory: 10, available: 10, refunds: 1 });
      await expectSellableExactly(mug.id, 10);
    });
  });

  test('422 refund_quantity_exceeded for more than was bought, changing nothing', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();

    const response = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 3 }] });

    expect(response.statusCode).toBe(422);
    expect(response.body.error).toMatchObject({ code: 'refund_quantity_exceeded', productId: mug.id, refundable: 2 });
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await countRows('refunds')).toBe(0);
    expect(await inventoryOf(mug.id)).toBe(8);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    await expectSellableExactly(mug.id, 8);
  });

  test('422 refund_quantity_exceeded for a second refund that would pass the total, changing nothing', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();
    await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    mockRefundsCreate.mockClear();

    const response = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });

    expect(response.statusCode).toBe(422);
    expect(response.body.error).toMatchObject({ code: 'refund_quantity_exceeded', productId: mug.id, refundable: 1 });
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    expect(await countRows('refunds')).toBe(1);
    expect(await inventoryOf(mug.id)).toBe(9);
    await expectSellableExactly(mug.id, 9);
  });

  test('422 refund_quantity_exceeded for a product that is not in the order', async () => {
    const mug = await givenProduct({ stock: 10 });
    const other = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);

    const response = await postRefund(order.id, { items: [{ productId: other.id, quantity: 1 }] });

    expect(response.statusCode).toBe(422);
    expect(response.body.error).toMatchObject({ code: 'refund_quantity_exceeded', productId: other.id, refundable: 0 });
    expect(mockRefundsCreate).not.toHaveBeenCalled();
  });

  test('404 order_not_found for an unknown order id, and for one that is not a UUID', async () => {
    const unknown = await postRefund('7d9f8a52-4c7e-4b8e-9a43-1f0c2b3d4e5f');
    const malformed = await postRefund('not-a-uuid');

    expect(unknown.statusCode).toBe(404);
    expect(unknown.body.error.code).toBe('order_not_found');
    expect(malformed.statusCode).toBe(404);
    expect(mockRefundsCreate).not.toHaveBeenCalled();
  });

  test('400 invalid_request for a bad body, changing nothing', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 1 }]);

    const response = await postRefund(order.id, { items: [{ productId: mug.id, quantity: -1 }] });

    expect(response.statusCode).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'invalid_request', field: 'items[0].quantity' });
    expect(await countRows('refunds')).toBe(0);
  });

  test('two refunds at once can never refund more than was bought', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    stripeRefunds();

    const responses = await Promise.all([
      postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] }),
      postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] }),
    ]);

    expect(responses.map((r) => r.statusCode).sort()).toEqual([201, 422]);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('refunds')).toBe(1);
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test('the same Idempotency-Key replays the refund without refunding twice; another body under it gets 422', async () => {
    const mug = await givenProduct({ stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const body = { items: [{ productId: mug.id, quantity: 1 }] };

    const first = await postRefund(order.id, body, { idempotencyKey: 'refund-key' });
    const replay = await postRefund(order.id, body, { idempotencyKey: 'refund-key' });
    const other = await postRefund(
      order.id,
      { items: [{ productId: mug.id, quantity: 2 }] },
      { idempotencyKey: 'refund-key' },
    );

    expect(first.statusCode).toBe(201);
    expect(replay.statusCode).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['Idempotent-Replayed']).toBe('true');
    expect(other.statusCode).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_mismatch');
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('refunds')).toBe(1);
    expect(await inventoryOf(mug.id)).toBe(8);
    await expectSellableExactly(mug.id, 8);
  });

  test('a refund Stripe could not confirm stays pending (503) and the next request completes it with the same Stripe key', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());

    const failed = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
    expect(failed.statusCode).toBe(503);
    expect(failed.body.error.code).toBe('payment_provider_unavailable');
    expect(await refundRows(order.id)).toEqual([
      expect.objectContaining({ status: 'pending', stripe_refund_id: null }),
    ]);
    expect(await inventoryOf(mug.id)).toBe(8);
    expect(await availableOf(mug.id)).toBe(8);

    stripeRefunds();
    const next = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });

    expect(next.statusCode).toBe(201);
    expect(next.body.order.status).toBe('refunded');
    const keys = mockRefundsCreate.mock.calls.map(([, options]) => options.idempotencyKey);
    expect(keys).toEqual([
      `refund-${failed.body.error.refundId}`,
      `refund-${failed.body.error.refundId}`,
      `refund-${next.body.refund.id}`,
    ]);
    expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(await inventoryOf(mug.id)).toBe(10);
    await expectSellableExactly(mug.id, 10);
  });

  test('after a 503, the retry with the same Idempotency-Key completes that refund instead of making a second one', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    const body = { items: [{ productId: mug.id, quantity: 1 }] };
    const failed = await postRefund(order.id, body, { idempotencyKey: 'refund-503' });
    expect(failed.statusCode).toBe(503);
    stripeRefunds();

    const retried = await postRefund(order.id, body, { idempotencyKey: 'refund-503' });

    expect(retried.statusCode).toBe(201);
    expect(retried.body.refund).toMatchObject({
      id: failed.body.error.refundId,
      amountCents: 1000,
      status: 'succeeded',
    });
    expect(retried.body.order.status).toBe('paid');
    expect(await countRows('refunds')).toBe(1);
    expect(mockRefundsCreate.mock.calls.map(([, options]) => options.idempotencyKey)).toEqual([
      `refund-${failed.body.error.refundId}`,
      `refund-${failed.body.error.refundId}`,
    ]);
    expect(await inventoryOf(mug.id)).toBe(9);
    await expectSellableExactly(mug.id, 9);
  });

  describe('a refund Stripe refuses for good (4xx)', () => {
    const alreadyRefunded = () =>
      invalidRequestError('charge_already_refunded', 'Charge ch_1 has already been refunded.');

    test("answers 409 refund_rejected with Stripe's code, records the refund failed, moves no stock and lets the lines be refunded again", async () => {
      // Prepare
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      mockRefundsCreate.mockRejectedValueOnce(alreadyRefunded());

      // Act
      const refused = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });

      // Assess: Stripe was asked whether a refund of ours exists before the row was failed.
      expect(refused.statusCode).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'refund_rejected',
        orderId: order.id,
        providerCode: 'charge_already_refunded',
      });
      expect(mockRefundsList).toHaveBeenCalledWith({ payment_intent: order.paymentIntentId, limit: 100 });
      const [failedRow] = await refundRows(order.id);
      expect(failedRow).toMatchObject({ id: refused.body.error.refundId, status: 'failed', stripe_refund_id: null });
      const { rows } = await db().query('SELECT failure_reason FROM refunds WHERE id = $1', [
        refused.body.error.refundId,
      ]);
      expect(rows).toEqual([{ failure_reason: 'charge_already_refunded' }]);
      expect(await inventoryOf(mug.id)).toBe(8);
      expect(await availableOf(mug.id)).toBe(8);
      expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });

      // The refused units still count as unrefunded: a full refund takes both, once.
      stripeRefunds();
      const full = await postRefund(order.id);
      expect(full.statusCode).toBe(201);
      expect(full.body.refund.items).toEqual([{ productId: mug.id, quantity: 2, amountCents: 2000 }]);
      expect(full.body.order.status).toBe('refunded');
      expect(await inventoryOf(mug.id)).toBe(10);
      expect(await availableOf(mug.id)).toBe(10);
      expect(mockRefundsCreate).toHaveBeenCalledTimes(2);
      await expectSellableExactly(mug.id, 10);
    });

    test('a refund left pending by an outage that Stripe later refuses no longer blocks the order: the next request is served', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      mockRefundsCreate.mockRejectedValueOnce(connectionError());
      const stuck = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });
      expect(stuck.statusCode).toBe(503);

      mockRefundsCreate.mockRejectedValueOnce(alreadyRefunded());
      stripeRefunds();
      const next = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 2 }] });

      expect(next.statusCode).toBe(201);
      expect(next.body.refund).toMatchObject({ amountCents: 2000, status: 'succeeded' });
      expect((await refundRows(order.id)).map((r) => r.status)).toEqual(['failed', 'succeeded']);
      expect(mockRefundsCreate.mock.calls.map(([, options]) => options.idempotencyKey)).toEqual([
        `refund-${stuck.body.error.refundId}`,
        `refund-${stuck.body.error.refundId}`,
        `refund-${next.body.refund.id}`,
      ]);
      expect(await inventoryOf(mug.id)).toBe(10);
      await expectSellableExactly(mug.id, 10);
    });

    test('a refusal for a refund Stripe already made for this row (its key expired) records that refund: stock given back once', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      mockRefundsCreate.mockRejectedValueOnce(connectionError());
      const stuck = await postRefund(
        order.id,
        { items: [{ productId: mug.id, quantity: 1 }] },
        { idempotencyKey: 'lost-answer' },
      );
      expect(stuck.statusCode).toBe(503);
      const madeEarlier = stripeRefund({
        amount: 1000,
        currency: 'usd',
        paymentIntentId: order.paymentIntentId,
        metadata: { order_id: order.id, refund_id: stuck.body.error.refundId },
      });
      mockRefundsCreate.mockRejectedValueOnce(alreadyRefunded());
      mockRefundsList.mockResolvedValue({ object: 'list', data: [madeEarlier], has_more: false, url: '/v1/refunds' });

      const retried = await postRefund(
        order.id,
        { items: [{ productId: mug.id, quantity: 1 }] },
        { idempotencyKey: 'lost-answer' },
      );

      expect(retried.statusCode).toBe(201);
      expect(retried.body.refund).toMatchObject({
        id: stuck.body.error.refundId,
        status: 'succeeded',
        stripeRefundId: madeEarlier.id,
      });
      expect(await refundRows(order.id)).toEqual([
        expect.objectContaining({ status: 'succeeded', stripe_refund_id: madeEarlier.id }),
      ]);
      expect(await inventoryOf(mug.id)).toBe(9);
      expect(await availableOf(mug.id)).toBe(9);
      await expectSellableExactly(mug.id, 9);
    });

    test('a retry with the Idempotency-Key of a refused refund gets the same 409, and nothing is sent again', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      mockRefundsCreate.mockRejectedValueOnce(alreadyRefunded());
      const body = { items: [{ productId: mug.id, quantity: 1 }] };

      const first = await postRefund(order.id, body, { idempotencyKey: 'refused' });
      const again = await postRefund(order.id, body, { idempotencyKey: 'refused' });

      expect([first.statusCode, again.statusCode]).toEqual([409, 409]);
      expect(again.body.error).toMatchObject({
        code: 'refund_rejected',
        refundId: first.body.error.refundId,
        providerCode: 'charge_already_refunded',
      });
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      expect(await countRows('refunds')).toBe(1);
      expect(await inventoryOf(mug.id)).toBe(8);
      await expectSellableExactly(mug.id, 8);
    });
  });

  describe("the refund's history (order_events) and events for other systems (outbox), with the change", () => {
    async function historyOf(orderId: string) {
      const { rows } = await db().query<{ type: string; source: string; data: Record<string, unknown> }>(
        `SELECT type, source, data FROM order_events WHERE order_id = $1 AND type LIKE 'refund%' ORDER BY id`,
        [orderId],
      );
      return rows;
    }
    async function outboxOf(orderId: string) {
      const { rows } = await db().query<{ topic: string; payload: Record<string, unknown> }>(
        `SELECT topic, payload FROM outbox WHERE order_id = $1 AND topic IN ('order.refunded', 'refund.failed')
          ORDER BY created_at, id`,
        [orderId],
      );
      return rows;
    }
    async function sourcesOf(orderId: string) {
      const { rows } = await db().query<{ source: string }>(
        'SELECT source FROM refunds WHERE order_id = $1 ORDER BY created_at',
        [orderId],
      );
      return rows.map((r) => r.source);
    }

    test('a partial then the last refund: refund_requested and refund_succeeded by the operator each time, order.refunded once with the money', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
      stripeRefunds();

      const first = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }], reason: 'duplicate' });
      const last = await postRefund(order.id);

      expect(await sourcesOf(order.id)).toEqual(['operator', 'operator']);
      expect(await historyOf(order.id)).toEqual([
        {
          type: 'refund_requested',
          source: 'operator',
          data: {
            refundId: first.body.refund.id,
            amountCents: 1000,
            reason: 'duplicate',
            source: 'operator',
            items: [{ productId: mug.id, quantity: 1, amountCents: 1000 }],
          },
        },
        {
          type: 'refund_succeeded',
          source: 'operator',
          data: {
            refundId: first.body.refund.id,
            stripeRefundId: first.body.refund.stripeRefundId,
            amountCents: 1000,
            currency: 'usd',
            restocked: [{ productId: mug.id, quantity: 1 }],
          },
        },
        expect.objectContaining({ type: 'refund_requested', data: expect.objectContaining({ amountCents: 2000 }) }),
        {
          type: 'refund_succeeded',
          source: 'operator',
          data: {
            refundId: last.body.refund.id,
            stripeRefundId: last.body.refund.stripeRefundId,
            amountCents: 2000,
            currency: 'usd',
            restocked: [{ productId: mug.id, quantity: 2 }],
            orderStatus: 'refunded',
          },
        },
      ]);
      expect(await outboxOf(order.id)).toEqual([
        { topic: 'order.refunded', payload: { refundedCents: 3000, amountCents: 3000, currency: 'usd' } },
      ]);
    });

    test('a refund Stripe refuses for good: refund_failed and refund.failed with the reason, no order.refunded', async () => {
      const mug = await givenProduct({ priceCents: 1000, stock: 10 });
      const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
      mockRefundsCreate.mockRejectedValueOnce(invalidRequestError('charge_disputed', 'Charge ch_1 has been disputed.'));

      const refused = await postRefund(order.id, { items: [{ productId: mug.id, quantity: 1 }] });

      expect(refused.statusCode).toBe(409);
      const refundId = refused.body.error.refundId;
      expect((await historyOf(order.id)).map((h) => [h.type, h.source])).toEqual([
        ['refund_requested', 'operator'],
        ['refund_failed', 'operator'],
      ]);
      expect((await historyOf(order.id))[1]?.data).toMatchObject({
        refundId,
        status: 'failed',
        previousStatus: 'pending',
        failureReason: 'charge_disputed',
      });
      expect(await outboxOf(order.id)).toEqual([
        {
          topic: 'refund.failed',
          payload: {
            refundId,
            stripeRefundId: null,
            amountCents: 1000,
            currency: 'usd',
            failureReason: 'charge_disputed',
            refundedCents: 0,
          },
        },
      ]);
    });
  });

  test('Idempotency-Keys of orders and refunds never meet: an order placed under "refund:<orderId>:k" or "<orderId>:k" does not answer the refund with key k', async () => {
    // Prepare: the keys the refund route once used for key k, taken first by public POST /orders.
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    for (const squatted of [`refund:${order.id}:k`, `${order.id}:k`, `refund ${order.id} k`.replace(/ /g, '_')]) {
      const placed = await postOrder(orderBody([{ productId: mug.id, quantity: 1 }]), { idempotencyKey: squatted });
      expect(placed.statusCode).toBe(201);
    }
    stripeRefunds();

    // Act
    const refunded = await postRefund(
      order.id,
      { items: [{ productId: mug.id, quantity: 1 }] },
      { idempotencyKey: 'k' },
    );
    const replayed = await postRefund(
      order.id,
      { items: [{ productId: mug.id, quantity: 1 }] },
      { idempotencyKey: 'k' },
    );

    // Assess
    expect(refunded.statusCode).toBe(201);
    expect(refunded.body.refund).toMatchObject({ orderId: order.id, amountCents: 1000 });
    expect(replayed.statusCode).toBe(201);
    expect(replayed.headers['Idempotent-Replayed']).toBe('true');
    expect(replayed.body.refund.id).toBe(refunded.body.refund.id);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    // 10 - 2 (the order) - 3 (the orders under the squatted keys) + 1 (refunded)
    expect(await inventoryOf(mug.id)).toBe(6);
    await expectSellableExactly(mug.id, 6);
  });

  test('the order id in any letter case is the same order: the same Idempotency-Key replays its refund, never a second one', async () => {
    const mug = await givenProduct({ priceCents: 1000, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 3 }]);
    stripeRefunds();
    const body = { items: [{ productId: mug.id, quantity: 1 }] };

    const first = await postRefund(order.id, body, { idempotencyKey: 'case-key' });
    const upper = await postRefund(order.id.toUpperCase(), body, { idempotencyKey: 'case-key' });
    await redis().flushdb(); // and the durable guard, without Redis
    const mixed = await postRefund(
      order.id.replace(/[a-f]/, (c) => c.toUpperCase()),
      body,
      { idempotencyKey: 'case-key' },
    );

    expect(first.statusCode).toBe(201);
    for (const again of [upper, mixed]) {
      expect(again.statusCode).toBe(201);
      expect(again.body.refund.id).toBe(first.body.refund.id);
      expect(again.headers['Idempotent-Replayed']).toBe('true');
    }
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('refunds')).toBe(1);
    expect(await inventoryOf(mug.id)).toBe(8);
  });
});
