import { givenProduct, inventoryOf } from '../helpers/builders';
import { orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { mockPaymentIntentsCreate } from '../helpers/stripe-mock';
import { db } from '../helpers/harness';

describe('concurrent orders for the last unit', () => {
  test('exactly one of three is paid, the others get insufficient_inventory, stock ends at 0 (10 rounds)', async () => {
    stripeAnswers('succeeded');
    for (let round = 1; round <= 10; round += 1) {
      // Prepare
      const product = await givenProduct({ stock: 1 });
      mockPaymentIntentsCreate.mockClear();

      // Act
      const results = await Promise.allSettled(
        [1, 2, 3].map((n) => postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: `race-${round}-${n}` })),
      );

      // Assess
      const responses = results.map((r) => (r.status === 'fulfilled' ? r.value : { statusCode: -1, body: r.reason }));
      const statuses = responses.map((r) => r.statusCode).sort();
      expect({ round, statuses }).toEqual({ round, statuses: [201, 409, 409] });
      for (const r of responses.filter((r) => r.statusCode === 409)) expect(r.body.error.code).toBe('insufficient_inventory');
      expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
      expect(await inventoryOf(product.id)).toBe(0);
      const { rows } = await db().query<{ status: string; n: string }>(
        `SELECT o.status, count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1 GROUP BY o.status ORDER BY o.status`,
        [product.id],
      );
      expect(rows).toEqual([{ status: 'failed', n: '2' }, { status: 'paid', n: '1' }]);
    }
  });
});
