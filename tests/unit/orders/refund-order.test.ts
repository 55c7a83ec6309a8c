import { OrderNotRefundableError, RefundQuantityExceededError } from '../../../lib/errors';
import { keys } from '../../../lib/keys';
import type { Order, OrderLine } from '../../../lib/orders/order-store';
import { refundLines } from '../../../lib/orders/refund-order';

const ORDER_ID = '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10';

function paidOrder(lines: OrderLine[]): Order {
  return {
    id: ORDER_ID,
    idempotencyKey: 'key-1',
    requestHash: 'hash',
    customerId: 'cus_42',
    paymentMethodId: 'pm_card_visa',
    status: 'paid',
    amountCents: lines.reduce((sum, l) => sum + l.quantity * l.unitPriceCents, 0),
    currency: 'eur',
    paymentIntentId: 'pi_1',
    failureCode: null,
    declineCode: null,
    failureProductId: null,
    declineMessage: null,
    lastEventCreated: null,
    lines,
  };
}

const line = (productId: string, quantity: number, unitPriceCents: number, refundedQuantity = 0): OrderLine => ({
  productId,
  quantity,
  unitPriceCents,
  refundedQuantity,
  restockedQuantity: refundedQuantity,
});

/** The error `run` throws (fails the test when it throws none). */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('refundLines (what a refund request refunds, at the prices paid)', () => {
  test('no items: everything not yet refunded, each line at its unit price; fully refunded lines left out', () => {
    const order = paidOrder([line('sku-a', 3, 1299, 1), line('sku-b', 2, 500, 2), line('sku-c', 1, 250)]);

    expect(refundLines(order, {})).toEqual([
      { productId: 'sku-a', quantity: 2, amountCents: 2 * 1299 },
      { productId: 'sku-c', quantity: 1, amountCents: 250 },
    ]);
  });

  test('items: only those, in the quantities asked, at the unit price paid', () => {
    const order = paidOrder([line('sku-a', 3, 1299), line('sku-b', 2, 500)]);

    expect(
      refundLines(order, { items: [{ productId: 'sku-b', quantity: 1 }], reason: 'requested_by_customer' }),
    ).toEqual([{ productId: 'sku-b', quantity: 1, amountCents: 500 }]);
  });

  test('asking for exactly what is left of a line is allowed', () => {
    const order = paidOrder([line('sku-a', 3, 1299, 1)]);

    expect(refundLines(order, { items: [{ productId: 'sku-a', quantity: 2 }] })).toEqual([
      { productId: 'sku-a', quantity: 2, amountCents: 2598 },
    ]);
  });

  test('more than is left of a line is refund_quantity_exceeded (422) with what can still be refunded', () => {
    const order = paidOrder([line('sku-a', 3, 1299, 1)]);

    const error = thrownBy(() => refundLines(order, { items: [{ productId: 'sku-a', quantity: 3 }] }));

    expect(error).toBeInstanceOf(RefundQuantityExceededError);
    expect(error).toMatchObject({
      code: 'refund_quantity_exceeded',
      status: 422,
      details: { productId: 'sku-a', refundable: 2 },
    });
  });

  test('a product the order does not have is refund_quantity_exceeded with 0 refundable', () => {
    const order = paidOrder([line('sku-a', 1, 1299)]);

    expect(thrownBy(() => refundLines(order, { items: [{ productId: 'sku-x', quantity: 1 }] }))).toMatchObject({
      code: 'refund_quantity_exceeded',
      details: { productId: 'sku-x', refundable: 0 },
    });
  });

  test('one line too many refuses the whole request, not just that line', () => {
    const order = paidOrder([line('sku-a', 2, 1299), line('sku-b', 1, 500)]);

    expect(() =>
      refundLines(order, {
        items: [
          { productId: 'sku-a', quantity: 1 },
          { productId: 'sku-b', quantity: 2 },
        ],
      }),
    ).toThrow(RefundQuantityExceededError);
  });

  test('nothing left to refund is order_not_refundable (409) as refunded', () => {
    const order = paidOrder([line('sku-a', 2, 1299, 2), line('sku-b', 1, 500, 1)]);

    const error = thrownBy(() => refundLines(order, {}));

    expect(error).toBeInstanceOf(OrderNotRefundableError);
    expect(error).toMatchObject({
      code: 'order_not_refundable',
      status: 409,
      details: { orderId: ORDER_ID, status: 'refunded' },
    });
  });
});

describe('keys.refundIdempotency (a refund key in its own namespace)', () => {
  test('is route, order and the caller key, so it can never be another order key nor a POST /orders key', () => {
    expect(keys.refundIdempotency(ORDER_ID, 'key-1')).toBe(`idempotency:refund ${ORDER_ID} key-1`);
    expect(keys.refundIdempotency(ORDER_ID, 'key-1')).not.toBe(
      keys.refundIdempotency('8b1e0c3f-0d6a-4f3e-a1c2-2b9d8e7f6a5b', 'key-1'),
    );
  });
});
