import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';
import type { OutboxTopic } from './history';

/** The `refunds` aggregate in PostgreSQL (writes; reads for the API in refund-view-store.ts). Every write here runs under the order's row lock (lockOrder). */

export type RefundStatus = 'pending' | 'succeeded' | 'failed' | 'canceled';

/** Who asked for a refund: our routes and jobs, or someone in the Stripe dashboard (a money-only refund). */
export type RefundSource = 'api' | 'operator' | 'webhook' | 'scheduler' | 'stripe_dashboard';

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

/**
 * Records a pending refund of these lines and counts them as refunded (so no later refund can take
 * them). `amountCents` defaults to the lines' amount; less when refunds outside the service took
 * some of the money. No lines: a money-only refund (one made in the Stripe dashboard).
 */
export async function insertRefund(
  tx: Db,
  refund: {
    id: string;
    orderId: string;
    reason: string | null;
    lines: readonly RefundLine[];
    amountCents?: number;
    source: RefundSource;
    stripeRefundId?: string | null;
    idempotencyKey?: string | null;
    requestHash?: string | null;
  },
): Promise<void> {
  const { lines } = refund;
  await tx.query(
    `WITH r AS (
       INSERT INTO refunds (id, order_id, amount_cents, reason, status, idempotency_key, request_hash, source, stripe_refund_id)
       VALUES ($1, $2, $3, $4, 'pending', $8, $9, $10, $11) RETURNING id
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
      refund.amountCents ?? lines.reduce((sum, l) => sum + l.amountCents, 0),
      refund.reason,
      lines.map((l) => l.productId),
      lines.map((l) => l.quantity),
      lines.map((l) => l.amountCents),
      refund.idempotencyKey ?? null,
      refund.requestHash ?? null,
      refund.source,
      refund.stripeRefundId ?? null,
    ],
  );
}

export interface PendingRefund {
  id: string;
  orderId: string;
  amountCents: number;
  reason: string | null;
  paymentIntentId: string;
  source: RefundSource;
}

/**
 * Refunds recorded but never acknowledged by Stripe (a call that could not reach it), oldest first:
 * the ones to (re)send. A refund Stripe holds as pending (its id known) is not sent again: Stripe's
 * webhook tells how it ends. One order's (`reason`: only those), one refund, or (the scheduler) at
 * most `limit` of every order's recorded more than `olderThanSeconds` ago.
 */
export async function pendingRefunds(
  db: Db,
  where: { orderId: string; reason?: string } | { refundId: string } | { olderThanSeconds: number; limit: number },
): Promise<PendingRefund[]> {
  const [filter, params, limit] =
    'refundId' in where
      ? ['r.id = $1', [where.refundId], '']
      : 'orderId' in where
        ? ['r.order_id = $1 AND ($2::text IS NULL OR r.reason = $2)', [where.orderId, where.reason ?? null], '']
        : ['r.created_at < now() - make_interval(secs => $1)', [where.olderThanSeconds, where.limit], 'LIMIT $2'];
  const { rows } = await db.query<{
    id: string;
    order_id: string;
    amount_cents: number;
    reason: string | null;
    payment_intent_id: string;
    source: RefundSource;
  }>(
    `SELECT r.id, r.order_id, r.amount_cents, r.reason, o.payment_intent_id, r.source
       FROM refunds r JOIN orders o ON o.id = r.order_id
      WHERE r.status = 'pending' AND r.stripe_refund_id IS NULL AND o.payment_intent_id IS NOT NULL AND ${filter}
      ORDER BY r.created_at, r.id ${limit}`,
    params,
  );
  return rows.map((r) => ({
    id: r.id,
    orderId: r.order_id,
    amountCents: r.amount_cents,
    reason: r.reason,
    paymentIntentId: r.payment_intent_id,
    source: r.source,
  }));
}

export interface RefundRow {
  id: string;
  orderId: string;
  status: RefundStatus;
  amountCents: number;
  stripeRefundId: string | null;
  failureReason: string | null;
  source: RefundSource;
}

interface RefundRowColumns {
  id: string;
  order_id: string;
  status: RefundStatus;
  amount_cents: number;
  stripe_refund_id: string | null;
  failure_reason: string | null;
  source: RefundSource;
}

const ROW_COLUMNS = 'r.id, r.order_id, r.status, r.amount_cents, r.stripe_refund_id, r.failure_reason, r.source';

function toRow(r: RefundRowColumns | undefined): RefundRow | null {
  return r
    ? {
        id: r.id,
        orderId: r.order_id,
        status: r.status,
        amountCents: r.amount_cents,
        stripeRefundId: r.stripe_refund_id,
        failureReason: r.failure_reason,
        source: r.source,
      }
    : null;
}

export async function refundRow(db: Db, refundId: string): Promise<RefundRow | null> {
  const { rows } = await db.query<RefundRowColumns>(`SELECT ${ROW_COLUMNS} FROM refunds r WHERE r.id = $1`, [refundId]);
  return toRow(rows[0]);
}

/**
 * Our refund that Stripe's refund `stripeRefundId` is: the row holding that id, else the row its
 * metadata.refund_id (`refundId`, a UUID) names if that row has no Stripe refund yet, belongs to the
 * order holding the refund's PaymentIntent and is for the same amount (metadata is only a claim: a
 * refund of another PaymentIntent, or of another amount, is not ours). `orderId`: only that order's.
 */
export async function matchRefund(
  db: Db,
  stripe: {
    stripeRefundId: string;
    refundId: string | null;
    paymentIntentId: string | null;
    amountCents: number;
    orderId?: string;
  },
): Promise<RefundRow | null> {
  const { rows } = await db.query<RefundRowColumns>(
    `SELECT ${ROW_COLUMNS}
       FROM refunds r JOIN orders o ON o.id = r.order_id
      WHERE (r.stripe_refund_id = $1
             OR (r.id = $2::uuid AND r.stripe_refund_id IS NULL AND o.payment_intent_id = $3 AND r.amount_cents = $5))
        AND ($4::uuid IS NULL OR r.order_id = $4)
      ORDER BY r.stripe_refund_id IS NOT NULL DESC
      LIMIT 1`,
    [stripe.stripeRefundId, stripe.refundId, stripe.paymentIntentId, stripe.orderId ?? null, stripe.amountCents],
  );
  return toRow(rows[0]);
}

/**
 * Moves a refund from `from` to `to` (Stripe's word), once: false if another writer moved it first.
 * Keeps Stripe's refund id and failure reason, and the `created` of the event that said so.
 */
export async function setRefundStatus(
  tx: Db,
  refundId: string,
  from: RefundStatus,
  to: RefundStatus,
  word: { stripeRefundId: string | null; failureReason: string | null; eventCreated: number | null },
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE refunds SET status = $3, stripe_refund_id = COALESCE(stripe_refund_id, $4),
            failure_reason = CASE WHEN $3 IN ('failed', 'canceled') THEN $5 ELSE failure_reason END,
            last_event_created = GREATEST(last_event_created, $6::bigint), updated_at = now()
      WHERE id = $1 AND status = $2`,
    [refundId, from, to, word.stripeRefundId, word.failureReason, word.eventCreated],
  );
  return rowCount === 1;
}

/** Stripe's word changed no status: still remember its refund id (a pending refund is not resent then) and the event. */
export async function noteStripeRefund(
  tx: Db,
  refundId: string,
  word: { stripeRefundId: string | null; eventCreated: number | null },
): Promise<void> {
  await tx.query(
    `UPDATE refunds SET stripe_refund_id = COALESCE(stripe_refund_id, $2),
            last_event_created = GREATEST(last_event_created, $3::bigint), updated_at = now()
      WHERE id = $1 AND (stripe_refund_id IS NULL AND $2::text IS NOT NULL
                         OR $3::bigint > COALESCE(last_event_created, 0))`,
    [refundId, word.stripeRefundId, word.eventCreated],
  );
}

/** A refund that returned no money (failed, canceled): its units are no longer counted as refunded. */
export async function uncountRefund(tx: Db, refundId: string): Promise<void> {
  await tx.query(
    `UPDATE order_items oi SET refunded_quantity = oi.refunded_quantity - ri.quantity
       FROM refunds r JOIN refund_items ri ON ri.refund_id = r.id
      WHERE r.id = $1 AND oi.order_id = r.order_id AND oi.product_id = ri.product_id`,
    [refundId],
  );
}

/**
 * The stock the order's succeeded refunds have not given back yet, per line: the units of that line
 * over its succeeded refunds minus what was given back before (restocked_quantity), which is raised
 * to that figure. A refund that failed after it succeeded leaves restocked_quantity where it was, so
 * the units it gave back are never given back again. Returns the units to give back now.
 */
export async function restockSucceeded(tx: Db, orderId: string): Promise<LineQuantity[]> {
  const { rows } = await tx.query<{ product_id: string; quantity: number }>(
    `WITH owed AS (
       SELECT oi.product_id, oi.restocked_quantity AS before,
              (SELECT COALESCE(sum(ri.quantity), 0)::int FROM refund_items ri JOIN refunds r ON r.id = ri.refund_id
                WHERE r.order_id = oi.order_id AND r.status = 'succeeded' AND ri.product_id = oi.product_id) AS succeeded
         FROM order_items oi WHERE oi.order_id = $1
     )
     UPDATE order_items oi SET restocked_quantity = w.succeeded
       FROM owed w
      WHERE oi.order_id = $1 AND oi.product_id = w.product_id AND w.succeeded > w.before
     RETURNING oi.product_id, w.succeeded - w.before AS quantity`,
    [orderId],
  );
  return rows
    .map((r) => ({ productId: r.product_id, quantity: r.quantity }))
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

/**
 * A paid order canceled: every unit whose stock has not come back comes back now (its money came
 * back through refunds that named no items, e.g. a dashboard refund). Returns what was given back.
 */
export async function restockAll(tx: Db, orderId: string): Promise<LineQuantity[]> {
  const { rows } = await tx.query<{ product_id: string; quantity: number }>(
    `WITH before AS (SELECT product_id, restocked_quantity FROM order_items WHERE order_id = $1)
     UPDATE order_items oi SET restocked_quantity = oi.quantity
       FROM before b
      WHERE oi.order_id = $1 AND oi.product_id = b.product_id AND b.restocked_quantity < oi.quantity
     RETURNING oi.product_id, oi.quantity - b.restocked_quantity AS quantity`,
    [orderId],
  );
  return rows
    .map((r) => ({ productId: r.product_id, quantity: r.quantity }))
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

export interface RefundTotals {
  amountCents: number;
  currency: string;
  /** Returned by Stripe: the succeeded refunds. */
  refundedCents: number;
  /** What can still be refunded: the amount minus every refund not failed or canceled. */
  refundableCents: number;
}

/** The order's money as its refunds stand; read under the order's lock. */
export async function refundTotals(tx: Db, orderId: string): Promise<RefundTotals> {
  const { rows } = await tx.query<{ amount_cents: number; currency: string; refunded: number; counted: number }>(
    `SELECT o.amount_cents, o.currency,
            COALESCE(sum(r.amount_cents) FILTER (WHERE r.status = 'succeeded'), 0)::int AS refunded,
            COALESCE(sum(r.amount_cents) FILTER (WHERE r.status IN ('pending', 'succeeded')), 0)::int AS counted
       FROM orders o LEFT JOIN refunds r ON r.order_id = o.id
      WHERE o.id = $1 GROUP BY o.id`,
    [orderId],
  );
  const row = rows[0];
  if (!row) throw new Error(`order ${orderId} vanished`);
  return {
    amountCents: row.amount_cents,
    currency: row.currency,
    refundedCents: row.refunded,
    refundableCents: Math.max(0, row.amount_cents - row.counted),
  };
}

/**
 * A paid order whose money has all come back (its succeeded refunds cover its amount) and with no
 * refund waiting on Stripe ends: 'canceled' if a cancel asked for it (cancel_requested_at), else
 * 'refunded'. Returns the new status (and the cancel's reason), or null (nothing changed). Runs
 * under the order's lock.
 */
export async function markOrderRefundedIfDone(
  tx: Db,
  orderId: string,
): Promise<{ status: 'refunded' | 'canceled'; cancelReason: string | null } | null> {
  const { rows } = await tx.query<{ status: 'refunded' | 'canceled'; cancel_reason: string | null }>(
    `UPDATE orders o SET status = CASE WHEN o.cancel_requested_at IS NULL THEN 'refunded' ELSE 'canceled' END,
            updated_at = now()
      WHERE o.id = $1 AND o.status = 'paid'
        AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id AND r.status = 'pending')
        AND (SELECT COALESCE(sum(r.amount_cents), 0) FROM refunds r WHERE r.order_id = o.id AND r.status = 'succeeded')
            >= o.amount_cents
      RETURNING o.status, o.cancel_reason`,
    [orderId],
  );
  const row = rows[0];
  return row ? { status: row.status, cancelReason: row.cancel_reason } : null;
}

/**
 * Money owed again (a refund failed or was canceled): an order that ended by its refunds
 * ('refunded', or 'canceled' by a paid-order cancel) is 'paid' again, and a cancel waiting for its
 * refund is given up. Returns the status it left, or null (nothing changed).
 */
export async function reopenOrder(tx: Db, orderId: string): Promise<string | null> {
  const { rows } = await tx.query<{ previous: string }>(
    `UPDATE orders o SET status = 'paid', cancel_requested_at = NULL, updated_at = now()
       FROM (SELECT status FROM orders WHERE id = $1) AS before
      WHERE o.id = $1
        AND (o.status = 'refunded' OR (o.status IN ('paid', 'canceled') AND o.cancel_requested_at IS NOT NULL))
      RETURNING before.status AS previous`,
    [orderId],
  );
  return rows[0]?.previous ?? null;
}

/** A paid order's cancel recorded: it ends 'canceled' once its refunds return all its money. */
export async function requestCancel(tx: Db, orderId: string, reason: string | null): Promise<void> {
  await tx.query(
    `UPDATE orders SET cancel_requested_at = COALESCE(cancel_requested_at, now()), cancel_reason = $2, updated_at = now()
      WHERE id = $1`,
    [orderId, reason],
  );
}

/** Where a paid order's cancel stands: its status, whether the cancel still waits, the money returned. */
export async function cancelState(
  db: Db,
  orderId: string,
): Promise<{ status: string; cancelRequested: boolean; refundedCents: number }> {
  const { rows } = await db.query<{ status: string; cancel_requested: boolean; refunded: number }>(
    `SELECT o.status, o.cancel_requested_at IS NOT NULL AS cancel_requested,
            (SELECT COALESCE(sum(r.amount_cents), 0)::int FROM refunds r
              WHERE r.order_id = o.id AND r.status = 'succeeded') AS refunded
       FROM orders o WHERE o.id = $1`,
    [orderId],
  );
  const row = rows[0];
  if (!row) throw new Error(`order ${orderId} vanished`);
  return { status: row.status, cancelRequested: row.cancel_requested, refundedCents: row.refunded };
}

/**
 * An event for other systems with no history row of its own: the order turned 'refunded' in a
 * change whose history row publishes something else (a refund failing lets earlier ones complete it).
 */
export async function publish(
  tx: Db,
  orderId: string,
  topic: OutboxTopic,
  payload: Record<string, unknown>,
): Promise<void> {
  await tx.query('INSERT INTO outbox (topic, order_id, payload) VALUES ($1, $2, $3)', [
    topic,
    orderId,
    JSON.stringify(payload),
  ]);
}
