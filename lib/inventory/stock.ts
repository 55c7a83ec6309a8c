import type { Redis } from 'ioredis';
import type { Db } from '../db';
import { keys } from './keys';
import type { LineQuantity } from './reservations';
import { commands } from './scripts';

/**
 * How long a stock mirror lives before it is read again from PostgreSQL: any drift (a crash between
 * the Redis change and the commit, a restock typed into psql) heals within this time.
 */
const STOCK_MIRROR_TTL_SECONDS = 3600;

/**
 * Copies inventory.quantity into Redis for the reserve script. The rows are read FOR SHARE and the
 * mirror written before commit, so a concurrent take or give-back (which holds the row lock while it
 * moves the mirror) lands either wholly before or wholly after this copy.
 */
export async function loadStockMirror(db: Db, redis: Redis, productIds: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ product_id: string; quantity: number }>(
      'SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1::text[]) ORDER BY product_id FOR SHARE',
      [productIds],
    );
    const quantities = new Map(rows.map((r) => [r.product_id, r.quantity]));
    const pipeline = redis.pipeline();
    // A product without an inventory row has no stock: mirror it as 0 rather than never loading it.
    for (const productId of productIds) {
      pipeline.set(keys.stock(productId), quantities.get(productId) ?? 0, 'EX', STOCK_MIRROR_TTL_SECONDS);
    }
    await pipeline.exec();
  });
}

export class StockUnavailableError extends Error {
  constructor(readonly productId: string) {
    super(`inventory of ${productId} is lower than the quantity to take`);
  }
}

/**
 * Takes the stock of a paid order: guarded decrements (`quantity >= n`), all or nothing. Must run
 * inside a transaction (`tx`); throws StockUnavailableError, which rolls it back, when a line lacks
 * stock. Rows are locked in product order so two orders never deadlock.
 */
export async function takeStock(tx: Db, redis: Redis, lines: readonly LineQuantity[]): Promise<void> {
  const { rows } = await tx.query<{ product_id: string }>(
    `WITH wanted AS (
       SELECT * FROM unnest($1::text[], $2::int[]) AS w(product_id, quantity)
     ), locked AS (
       SELECT i.product_id FROM inventory i JOIN wanted w USING (product_id)
       ORDER BY i.product_id FOR UPDATE OF i
     )
     UPDATE inventory i SET quantity = i.quantity - w.quantity
       FROM wanted w
      WHERE i.product_id = w.product_id
        AND i.product_id IN (SELECT product_id FROM locked)
        AND i.quantity >= w.quantity
     RETURNING i.product_id`,
    [lines.map((l) => l.productId), lines.map((l) => l.quantity)],
  );
  if (rows.length !== lines.length) {
    const taken = new Set(rows.map((r) => r.product_id));
    throw new StockUnavailableError(lines.find((l) => !taken.has(l.productId))?.productId ?? '');
  }
  await adjustStockMirror(redis, lines.map((l) => ({ productId: l.productId, quantity: -l.quantity })));
}

/** Gives stock back (refund, or a paid order that turned out failed). Inside a transaction. */
export async function giveBackStock(tx: Db, redis: Redis, lines: readonly LineQuantity[]): Promise<void> {
  if (lines.length === 0) return;
  await tx.query(
    `UPDATE inventory i SET quantity = i.quantity + g.quantity
       FROM (SELECT * FROM unnest($1::text[], $2::int[]) AS g(product_id, quantity) ORDER BY product_id) g
      WHERE i.product_id = g.product_id`,
    [lines.map((l) => l.productId), lines.map((l) => l.quantity)],
  );
  await adjustStockMirror(redis, lines);
}

/** Sets stock on hand (seeding, restocking) and its mirror together. */
export async function setStock(db: Db, redis: Redis, productId: string, quantity: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)
       ON CONFLICT (product_id) DO UPDATE SET quantity = EXCLUDED.quantity`,
      [productId, quantity],
    );
    await redis.set(keys.stock(productId), quantity, 'EX', STOCK_MIRROR_TTL_SECONDS);
  });
}

/**
 * Moves the stock mirrors by `deltas` (negative when stock is taken). Call it inside the PostgreSQL
 * transaction that changes inventory.quantity, while its row locks are held, so that a concurrent
 * reload (which reads under FOR SHARE) sees either both changes or neither.
 */
export async function adjustStockMirror(redis: Redis, deltas: readonly LineQuantity[]): Promise<void> {
  if (deltas.length === 0) return;
  await commands(redis).adjustStock(
    deltas.length,
    ...deltas.map((d) => keys.stock(d.productId)),
    ...deltas.map((d) => d.quantity),
  );
}
