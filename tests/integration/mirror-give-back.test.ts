import { settleHold } from '../../lib/inventory/reservations';
import { giveBackStock, loadStockMirror } from '../../lib/inventory/stock';
import { availableOf, givenProduct, inventoryOf, mirrorOf } from '../helpers/builders';
import { db, redis } from '../helpers/harness';

/**
 * Stock given back (a refund, a paid order that failed, a cancel) is committed in PostgreSQL first
 * and the Redis mirror moved after. A mirror reload that slips in between reads the units already;
 * adding them again would count them twice, and the service would sell units it does not have.
 */
test('a mirror reloaded between the give-back commit and the mirror move counts the units once', async () => {
  const { id: productId } = await givenProduct({ stock: 5 });
  await redis().del(`stock:${productId}`);

  // The refund's transaction gives 3 back and commits (the harness's transaction stands in for it).
  await db().transaction((tx) => giveBackStock(tx, [{ productId, quantity: 3 }]));
  // Another container's order finds no mirror and reloads it: 8, the truth.
  await loadStockMirror(db(), redis(), [productId]);
  expect(await mirrorOf(productId)).toBe(8);
  // Then the refund moves the mirror, as it does after every commit.
  await settleHold(redis(), 'refund-1', [{ productId, quantity: 3 }]);

  expect(await inventoryOf(productId)).toBe(8);
  // Not 11: a buyer can hold exactly what PostgreSQL has.
  expect(await availableOf(productId)).toBe(8);
});
