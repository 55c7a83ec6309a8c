import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../db';
import type { CoreDeps } from '../deps';
import { IdempotencyKeyMismatchError, InvalidRequestError, ProductNotFoundError, StockBelowZeroError } from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent } from '../idempotency/idempotent';
import type { IdempotentResult } from '../idempotency/port';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { keys } from '../keys';
import type { RedisClient } from '../redis';
import { settleHold, stockState } from './reservations';

/**
 * Stock on hand as operators see and change it (GET /products/{productId}/stock, POST .../adjustments,
 * and `npm run db:seed`). Every change is a stock_adjustments row.
 *
 * The mirror (stock:{p}) moves by the delta inside the PostgreSQL transaction, while the inventory
 * row is locked FOR UPDATE, through settle.lua (atomic, and it leaves a missing mirror missing).
 * Not after the commit, as orders do: a mirror reload (loadStockMirror, FOR SHARE) that slipped in
 * between a commit and its move would count the delta twice, which for an increase leaves the mirror
 * ABOVE the truth (holds for units that do not exist). Under the lock a reload waits for the commit
 * and then finds the mirror present (SET NX) or loads the committed figure. If anything fails after
 * the move was sent (the commit itself, a lost reply), the mirror is deleted: it is reloaded from
 * PostgreSQL when next needed. Only a process dying between the move and its commit leaves it off
 * (by the delta, until its hourly expiry), and then PostgreSQL's guard still refuses to sell units it
 * does not have.
 *
 * A decrease is refused only when quantity would go below 0. It may leave fewer units than live holds
 * (the operator found units broken; the truth is what it is): those holds stay, no new hold is taken
 * until stock exceeds them, and a holder whose payment succeeds after the units are gone is failed
 * out_of_stock_after_payment and refunded, as for an expired hold. Until then held can exceed the
 * mirror; `available` never goes below 0.
 */

export const MAX_ABS_DELTA = 1_000_000;
const MAX_QUANTITY = 2_147_483_647; // inventory.quantity is an integer

export const adjustmentRequestSchema = z.strictObject({
  delta: z
    .number({ error: 'delta must be a number' })
    .int('delta must be an integer')
    .min(-MAX_ABS_DELTA, `delta must be at least -${MAX_ABS_DELTA}`)
    .max(MAX_ABS_DELTA, `delta must be at most ${MAX_ABS_DELTA}`)
    .refine((d) => d !== 0, 'delta must not be 0'),
  reason: z
    .string({ error: 'reason must be a string' })
    .trim()
    .min(1, 'reason must not be empty')
    .max(200, 'reason must be at most 200 characters'),
});

export type AdjustmentRequest = z.infer<typeof adjustmentRequestSchema>;

export interface StockFigures {
  productId: string;
  /** inventory.quantity: on hand. */
  quantity: number;
  /** Units in live holds (orders awaiting payment). */
  held: number;
  /** What a new order can hold now: the mirror minus live holds, never below 0. */
  available: number;
}

/** Product ids are visible ASCII (lib/schemas.ts idSchema): anything else names no product, and no Redis key. */
const PRODUCT_ID = /^[\x21-\x7e]{1,255}$/;

/** GET /products/{productId}/stock. */
export async function stockFigures(db: Db, redis: RedisClient, productId: string): Promise<StockFigures> {
  if (!PRODUCT_ID.test(productId)) throw new ProductNotFoundError(productId);
  const { rows } = await db.query<{ quantity: number | null }>(
    'SELECT i.quantity FROM products p LEFT JOIN inventory i ON i.product_id = p.id WHERE p.id = $1',
    [productId],
  );
  if (!rows[0]) throw new ProductNotFoundError(productId);
  return { productId, quantity: rows[0].quantity ?? 0, ...(await liveFigures(db, redis, productId)) };
}

/** held and available as the hold script sees them now (expired holds dropped first; a missing mirror loaded). */
async function liveFigures(
  db: Db,
  redis: RedisClient,
  productId: string,
): Promise<{ held: number; available: number }> {
  const { mirror, held } = (await stockState(redis, db, [productId])).get(productId) ?? { mirror: 0, held: 0 };
  return { held, available: Math.max(0, mirror - held) };
}

type AdjustDeps = Pick<CoreDeps, 'db' | 'redis' | 'config'>;

/**
 * POST /products/{productId}/stock/adjustments. With an Idempotency-Key, as refunds: Redis replays a
 * stored answer (`idempotency:stock-adjustment <productId> <key>`), and stock_adjustments.idempotency_key
 * is the durable guard when Redis has lost it.
 */
export async function adjustStock(
  deps: AdjustDeps,
  productId: string,
  request: AdjustmentRequest,
  idempotencyKey: string | undefined,
): Promise<IdempotentResult> {
  if (!PRODUCT_ID.test(productId)) throw new ProductNotFoundError(productId);
  if (idempotencyKey === undefined) return adjust(deps, productId, request, null);
  const guard = { key: `${productId}:${idempotencyKey}`, hash: fingerprint(request) };
  return idempotent(
    new RedisIdempotencyStore(deps.redis),
    keys.stockAdjustmentIdempotency(productId, idempotencyKey),
    guard.hash,
    { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds },
    () => adjust(deps, productId, request, guard),
  );
}

async function adjust(
  deps: AdjustDeps,
  productId: string,
  request: AdjustmentRequest,
  guard: { key: string; hash: string } | null,
): Promise<IdempotentResult> {
  const recorded = await changeStock(deps.db, deps.redis, productId, async (tx, quantity) => {
    if (guard) {
      const existing = await adjustmentByKey(tx, guard.key);
      if (existing && existing.requestHash !== guard.hash) throw new IdempotencyKeyMismatchError();
      if (existing) return { existing: true, adjustment: existing };
    }
    if (quantity + request.delta < 0) throw new StockBelowZeroError(productId, quantity, request.delta);
    if (quantity + request.delta > MAX_QUANTITY) {
      throw new InvalidRequestError(`delta would take the stock of ${productId} above ${MAX_QUANTITY}`, {
        field: 'delta',
      });
    }
    return { existing: false, delta: request.delta, reason: request.reason, guard };
  });
  if (!recorded) throw new Error('a non-zero delta records an adjustment');
  const { adjustment } = recorded;
  return {
    statusCode: 201,
    body: {
      productId,
      quantity: adjustment.quantityAfter,
      ...(await liveFigures(deps.db, deps.redis, productId)),
      adjustment: {
        id: adjustment.id,
        delta: adjustment.delta,
        reason: adjustment.reason,
        createdAt: adjustment.createdAt,
      },
    },
    replayed: recorded.existing,
  };
}

/**
 * Sets stock on hand to `quantity` (`npm run db:seed`): the difference is an adjustment like an
 * operator's, made and mirrored by the same code. Nothing is written when it is already there.
 */
export async function setStockTo(
  db: Db,
  redis: RedisClient,
  productId: string,
  quantity: number,
  reason: string,
): Promise<void> {
  await changeStock(db, redis, productId, async (_tx, current) =>
    current === quantity ? null : { existing: false, delta: quantity - current, reason, guard: null },
  );
}

interface Adjustment {
  id: string;
  delta: number;
  reason: string;
  createdAt: string;
  quantityAfter: number;
  requestHash: string | null;
}

type Decision =
  | { existing: true; adjustment: Adjustment }
  | { existing: false; delta: number; reason: string; guard: { key: string; hash: string } | null }
  | null;

/**
 * One transaction: the inventory row locked (made at 0 for a product that has none), `decide` on its
 * quantity, the adjustment recorded and the mirror moved before the commit (see the top of this file).
 */
async function changeStock(
  db: Db,
  redis: RedisClient,
  productId: string,
  decide: (tx: Db, quantity: number) => Promise<Decision>,
): Promise<{ existing: boolean; adjustment: Adjustment } | null> {
  let moved = false;
  try {
    return await db.transaction(async (tx) => {
      const decision = await decide(tx, await lockStock(tx, productId));
      if (decision === null || decision.existing) return decision;
      const adjustment = await recordAdjustment(tx, productId, decision);
      moved = true; // from here the move may have happened, even if its reply is lost
      // settle.lua with the adjustment's id where an order's would be: it holds nothing, so only the mirror moves.
      await settleHold(redis, adjustment.id, [{ productId, quantity: decision.delta }], { underLock: true });
      return { existing: false, adjustment };
    });
  } catch (error) {
    if (moved) await redis.del(keys.stock(productId)).catch(() => undefined);
    throw error;
  }
}

/** The product's stock row, locked for the transaction: its quantity. */
async function lockStock(tx: Db, productId: string): Promise<number> {
  const lock = () =>
    tx.query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1 FOR UPDATE', [productId]);
  let { rows } = await lock();
  if (!rows[0]) {
    await tx.query(
      'INSERT INTO inventory (product_id, quantity) SELECT id, 0 FROM products WHERE id = $1 ON CONFLICT (product_id) DO NOTHING',
      [productId],
    );
    ({ rows } = await lock());
  }
  if (!rows[0]) throw new ProductNotFoundError(productId);
  return rows[0].quantity;
}

interface AdjustmentRow {
  id: string;
  delta: number;
  reason: string;
  created_at: Date;
  quantity_after: number;
  request_hash: string | null;
}

const toAdjustment = (r: AdjustmentRow): Adjustment => ({
  id: r.id,
  delta: r.delta,
  reason: r.reason,
  createdAt: r.created_at.toISOString(),
  quantityAfter: r.quantity_after,
  requestHash: r.request_hash,
});

async function recordAdjustment(
  tx: Db,
  productId: string,
  change: { delta: number; reason: string; guard: { key: string; hash: string } | null },
): Promise<Adjustment> {
  const { rows } = await tx.query<AdjustmentRow>(
    `WITH inv AS (
       UPDATE inventory SET quantity = quantity + $3 WHERE product_id = $2 RETURNING quantity
     )
     INSERT INTO stock_adjustments (id, product_id, delta, reason, idempotency_key, request_hash, quantity_after)
     SELECT $1, $2, $3, $4, $5, $6, inv.quantity FROM inv
     RETURNING id, delta, reason, created_at, quantity_after, request_hash`,
    [randomUUID(), productId, change.delta, change.reason, change.guard?.key ?? null, change.guard?.hash ?? null],
  );
  if (!rows[0]) throw new Error(`stock row of ${productId} vanished under its lock`);
  return toAdjustment(rows[0]);
}

async function adjustmentByKey(tx: Db, idempotencyKey: string): Promise<Adjustment | null> {
  const { rows } = await tx.query<AdjustmentRow>(
    'SELECT id, delta, reason, created_at, quantity_after, request_hash FROM stock_adjustments WHERE idempotency_key = $1',
    [idempotencyKey],
  );
  return rows[0] ? toAdjustment(rows[0]) : null;
}
