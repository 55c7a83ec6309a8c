import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';

/** The `refunds` aggregate in PostgreSQL (writes; reads for the API in refund-view-store.ts). Every write here runs under the order's row lock (lockOrder). */

export type RefundStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

export interface RefundLine {
  productId: string;
  quantity: number;
  amountCents: number;
}

/** The refund recorded under an Idempotency-Key (the durable guard), if any. */
export async function refundByKey(
  tx: Db,
  key: string,
): Promise<{ id: string; requestHash: string | null; status: RefundStatus } | null> {
  const { rows } = await tx.query<{ id: string; request_hash: string | null; status: RefundStatus }>(
    'SELECT id, request_hash, status FROM refunds WHERE idempotency_key = $1',
    [key],
  );
  const row = rows[0];
  return row ? { id: row.id, requestHash: row.request_hash, status: row.status } : null;
}

/** Records a pending refund of these lines and counts them as refunded (so no later refund can take them). */
export async function insertRefund(
  tx: Db,
  refund: {
    id: string;
    orderId: string;
    reason: string | null;
    lines: readonly RefundLine[];
    idempotencyKey: string | null;
    requestHash: string | null;
  },
): Promise<void> {
  const { lines } = refund;
  await tx.query(
    `WITH r AS (
       INSERT INTO refunds (id, order_id, amount_cents, reason, status, idempotency_key, request_hash)
       VALUES ($1, $2, $3, $4, 'pending', $8, $9) RETURNING id
     ), items AS (
       INSERT INTO refund_items (refund_id, product_id, quantity, amount_cents)
       SELECT r.id, x.product_id, x.quantity, x.amount_cents
         FROM r, unnest($5::text[], $6::int[], $7::int[]) AS x(product_id, quantity, amount_cents)
     )
     UPDATE order_items oi SET refunded_quantity = oi.refunded_quantity + x.quantity
       FROM unnest($5::text[], $6::int[]) AS x(product_id, quantity)
      WHERE oi.order_id = $2 AND oi.product_id = x.product_id`,
    [
      refund.id,
      refund.orderId,
      lines.reduce((sum, l) => sum + l.amountCents, 0),
      refund.reason,
      lines.map((l) => l.productId),
      lines.map((l) => l.quantity),
      lines.map((l) => l.amountCents),
      refund.idempotencyKey,
      refund.requestHash,
    ],
  );
}

export interface PendingRefund {
  id: string;
  orderId: string;
  amountCents: number;
  reason: string | null;
  paymentIntentId: string;
}

/** Refunds still waiting for Stripe's answer (a call that could not reach it), oldest first. */
export async function pendingRefunds(
  db: Db,
  where: { orderId: string; reason?: string } | { refundId: string },
): Promise<PendingRefund[]> {
  const byRefund = 'refundId' in where;
  const { rows } = await db.query<{
    id: string;
    order_id: string;
    amount_cents: number;
    reason: string | null;
    payment_intent_id: string;
  }>(
    `SELECT r.id, r.order_id, r.amount_cents, r.reason, o.payment_intent_id
       FROM refunds r JOIN orders o ON o.id = r.order_id
      WHERE r.status = 'pending' AND o.payment_intent_id IS NOT NULL
        AND ${byRefund ? 'r.id = $1' : 'r.order_id = $1 AND ($2::text IS NULL OR r.reason = $2)'}
      ORDER BY r.created_at, r.id`,
    byRefund ? [where.refundId] : [where.orderId, where.reason ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    orderId: r.order_id,
    amountCents: r.amount_cents,
    reason: r.reason,
    paymentIntentId: r.payment_intent_id,
  }));
}

/**
 * Stripe has the refund: it turns succeeded, once. Returns the lines whose stock comes back, only to
 * the one call that made the change (empty if another request completed it already).
 */
export async function markRefundSucceeded(
  tx: Db,
  refundId: string,
  stripeRefundId: string,
): Promise<{ changed: boolean; lines: LineQuantity[] }> {
  const { rows } = await tx.query<{ product_id: string | null; quantity: number | null }>(
    `WITH done AS (
       UPDATE refunds SET status = 'succeeded', stripe_refund_id = $2 WHERE id = $1 AND status = 'pending' RETURNING id
     )
     SELECT ri.product_id, ri.quantity FROM done LEFT JOIN refund_items ri ON ri.refund_id = done.id ORDER BY ri.product_id`,
    [refundId, stripeRefundId],
  );
  return {
    changed: rows.length > 0,
    lines: rows
      .filter((r) => r.product_id !== null)
      .map((r) => ({ productId: r.product_id as string, quantity: r.quantity as number })),
  };
}

/**
 * Stripe refused the refund for good: it turns failed with Stripe's code, once, and its quantities
 * are no longer counted as refunded (no stock moved for it, and none will).
 */
export async function markRefundFailed(tx: Db, refundId: string, failureReason: string): Promise<boolean> {
  const { rows } = await tx.query<{ failed: boolean }>(
    `WITH failed AS (
       UPDATE refunds SET status = 'failed', failure_reason = $2 WHERE id = $1 AND status = 'pending' RETURNING id, order_id
     ), uncounted AS (
       UPDATE order_items oi SET refunded_quantity = oi.refunded_quantity - ri.quantity
         FROM failed f JOIN refund_items ri ON ri.refund_id = f.id
        WHERE oi.order_id = f.order_id AND oi.product_id = ri.product_id
     )
     SELECT EXISTS (SELECT 1 FROM failed) AS failed`,
    [refundId, failureReason],
  );
  return rows[0]?.failed === true;
}

/**
 * A paid order with nothing left to refund and no refund waiting on Stripe becomes refunded. Runs
 * under the order's lock, taken by an earlier statement: the lines and refunds it reads are current.
 */
export async function markOrderRefundedIfDone(tx: Db, orderId: string): Promise<void> {
  await tx.query(
    `UPDATE orders o SET status = 'refunded', updated_at = now()
      WHERE o.id = $1 AND o.status = 'paid'
        AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.refunded_quantity < i.quantity)
        AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id AND r.status = 'pending')`,
    [orderId],
  );
}
