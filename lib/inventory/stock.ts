import type { Db } from '../db';
import { keys } from '../keys';
import type { RedisClient } from '../redis';
import type { LineQuantity } from './reservations';

/**
 * How long a stock mirror lives before it is read again from PostgreSQL: any drift (a reload racing
 * a commit, a restock typed into psql) heals within this time.
 */
const STOCK_MIRROR_TTL_SECONDS = 3600;

/**
 * Copies inventory.quantity into Redis for the reserve script, where no mirror is. The rows are read
 * FOR SHARE and the mirror written before that lock is released, so the copy is never older than a
 * commit that came before it; changes committed after it move the mirror themselves (settleHold).
 *
 * Only where none is (SET NX): containers that found the mirror missing at the same moment load it
 * at once, and a late one would otherwise overwrite a mirror that settles already keep right with a
 * figure read between an order's commit and its settle, which that settle then takes again.
 */
export async function loadStockMirror(db: Db, redis: RedisClient, productIds: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ product_id: string; quantity: number }>(
      'SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1::text[]) ORDER BY product_id FOR SHARE',
      [productIds],
    );
    const quantities = new Map(rows.map((r) => [r.product_id, r.quantity]));
    const pipeline = redis.pipeline();
    // A product without an inventory row has no stock: mirror it as 0 rather than never loading it.
    for (const productId of productIds) {
      pipeline.set(keys.stock(productId), quantities.get(productId) ?? 0, 'EX', STOCK_MIRROR_TTL_SECONDS, 'NX');
    }
    await pipeline.exec();
  });
}

/**
 * Gives stock back (a refund, or a paid order that turned out failed). Inside the transaction that
 * records why; the caller moves the mirrors (settleHold) once it has committed.
 */
export async function giveBackStock(tx: Db, lines: readonly LineQuantity[]): Promise<void> {
  if (lines.length === 0) return;
  await tx.query(
    `UPDATE inventory i SET quantity = i.quantity + g.quantity
       FROM (SELECT * FROM unnest($1::text[], $2::int[]) AS g(product_id, quantity) ORDER BY product_id) g
      WHERE i.product_id = g.product_id`,
    [lines.map((l) => l.productId), lines.map((l) => l.quantity)],
  );
}

/** Sets stock on hand (seeding, restocking) and its mirror together. */
export async function setStock(db: Db, redis: RedisClient, productId: string, quantity: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)
       ON CONFLICT (product_id) DO UPDATE SET quantity = EXCLUDED.quantity`,
      [productId, quantity],
    );
    await redis.set(keys.stock(productId), quantity, 'EX', STOCK_MIRROR_TTL_SECONDS);
  });
}
