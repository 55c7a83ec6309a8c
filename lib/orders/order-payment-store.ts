import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';

/**
 * The orders aggregate's payment transitions in SQL (the rest of its SQL is in order-store.ts).
 * Each statement follows the locking rule (ARCHITECTURE.md): it takes the order's row lock first, or
 * re-checks in its own WHERE the row it locks (PostgreSQL re-evaluates that on the row's newest
 * version after a wait) and reads nothing else another writer can change.
 */

export const OUT_OF_STOCK_AFTER_PAYMENT = 'out_of_stock_after_payment';

/** Unix seconds of "now", rounded down like Stripe's `created`: a synchronous answer is an event of now. */
const NOW_SECONDS = 'floor(extract(epoch FROM now()))::bigint';

/** What paying an order sets, as order_paid does (a synchronous answer is an event of "now"). */
const PAID_SET = `UPDATE orders SET status = 'paid', payment_intent_id = COALESCE(payment_intent_id, $2),
           last_event_created = GREATEST(last_event_created, ${NOW_SECONDS}),
           locked_until = NULL, updated_at = now()`;

/**
 * A pending order with these lines is paid: one statement locks the order row (then the stock rows,
 * in product order, as order_paid does: the two never deadlock), checks every line against the stock
 * it locked, and only if all have enough takes them and marks the order paid. It changes nothing and
 * answers false when the order is no longer pending or a line lacks stock: order_paid sorts those out.
 */
const PAY_PENDING = `
  WITH o AS (
    SELECT id FROM orders WHERE id = $1 AND status = 'pending' AND failure_code IS NULL FOR UPDATE
  ), lines AS (
    SELECT product_id, quantity FROM unnest($3::text[], $4::int[]) AS l(product_id, quantity)
  ), stock AS (
    SELECT inv.product_id FROM inventory inv JOIN lines l ON l.product_id = inv.product_id
     WHERE EXISTS (SELECT 1 FROM o) AND inv.quantity >= l.quantity
     ORDER BY inv.product_id FOR UPDATE OF inv
  ), enough AS (
    SELECT count(*) = cardinality($3::text[]) AS ok FROM stock
  ), take AS (
    UPDATE inventory inv SET quantity = inv.quantity - l.quantity FROM lines l, enough
     WHERE inv.product_id = l.product_id AND enough.ok
  ), paid AS (
    ${PAID_SET} FROM enough WHERE id = $1 AND enough.ok AND EXISTS (SELECT 1 FROM o)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM paid) AS paid`;

/**
 * The same for an order of one line, the common case, without locking the stock row first: the
 * guarded decrement alone is all-or-nothing for one row (PostgreSQL re-checks the guard on the row's
 * newest version), so it costs half as much.
 */
const PAY_PENDING_ONE_LINE = `
  WITH o AS (
    SELECT id FROM orders WHERE id = $1 AND status = 'pending' AND failure_code IS NULL FOR UPDATE
  ), take AS (
    UPDATE inventory SET quantity = quantity - ($4::int[])[1]
     WHERE product_id = ($3::text[])[1] AND quantity >= ($4::int[])[1] AND EXISTS (SELECT 1 FROM o)
    RETURNING 1
  ), paid AS (
    ${PAID_SET} WHERE id = $1 AND EXISTS (SELECT 1 FROM take)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM paid) AS paid`;

/** A pending order with these lines paid in one statement; false (nothing changed) for order_paid to sort out. */
export async function payPending(
  db: Db,
  orderId: string,
  paymentIntentId: string,
  lines: readonly LineQuantity[],
): Promise<boolean> {
  const { rows } = await db.query<{ paid: boolean }>(lines.length === 1 ? PAY_PENDING_ONE_LINE : PAY_PENDING, [
    orderId,
    paymentIntentId,
    lines.map((l) => l.productId),
    lines.map((l) => l.quantity),
  ]);
  return rows[0]?.paid === true;
}

export interface OrderPaidRow {
  outcome: 'paid' | 'unchanged' | 'out_of_stock' | 'not_found';
  previous: string | null;
  short_product: string | null;
  lines: LineQuantity[] | null;
}

/** The order_paid function (db/migrations): lock, decide, take the stock, mark paid; one round trip. */
export async function orderPaid(
  db: Db,
  orderId: string,
  paymentIntentId: string,
  eventCreated: number | null,
): Promise<OrderPaidRow | undefined> {
  const { rows } = await db.query<OrderPaidRow>('SELECT * FROM order_paid($1, $2, $3)', [
    orderId,
    paymentIntentId,
    eventCreated,
  ]);
  return rows[0];
}

export interface FailureFields {
  paymentIntentId: string | null;
  failureCode: string | null;
  declineCode: string | null;
  /** Stripe's message for a decline, kept for the answer (create-order-answer.ts). */
  declineMessage?: string | null;
  /** The product that lacked stock. */
  productId?: string;
}

/** The order marked failed; its caller holds the order's lock and has decided it may move. */
export async function markFailed(
  tx: Db,
  orderId: string,
  fields: FailureFields,
  eventCreated: number | null,
): Promise<void> {
  await tx.query(
    `UPDATE orders o
        SET status = 'failed', failure_code = $3, decline_code = $4, failure_product_id = $6, decline_message = $7,
            payment_intent_id = COALESCE(o.payment_intent_id, $2),
            last_event_created = GREATEST(o.last_event_created, COALESCE($5::bigint, ${NOW_SECONDS})),
            locked_until = NULL, updated_at = now()
      WHERE o.id = $1`,
    [
      orderId,
      fields.paymentIntentId,
      fields.failureCode,
      fields.declineCode,
      eventCreated,
      fields.productId ?? null,
      fields.declineMessage ?? null,
    ],
  );
}

/**
 * A paid-for order whose stock is gone: failed out_of_stock_after_payment and its full refund
 * recorded (pending, id `refundId`), in one statement that re-checks the order on the row it locks.
 * False: another writer paid or settled it meanwhile, and nothing changed.
 */
export async function failOutOfStock(
  db: Db,
  o: { orderId: string; paymentIntentId: string; refundId: string; eventCreated: number | null; productId: string },
): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH failed AS (
       UPDATE orders o SET status = 'failed', failure_code = '${OUT_OF_STOCK_AFTER_PAYMENT}', failure_product_id = $5,
              payment_intent_id = COALESCE(o.payment_intent_id, $2),
              last_event_created = GREATEST(o.last_event_created, COALESCE($4::bigint, ${NOW_SECONDS})),
              locked_until = NULL, updated_at = now()
        WHERE o.id = $1 AND o.status IN ('pending', 'failed') AND o.failure_code IS DISTINCT FROM '${OUT_OF_STOCK_AFTER_PAYMENT}'
        RETURNING o.id, o.amount_cents
     )
     INSERT INTO refunds (id, order_id, amount_cents, reason, status)
     SELECT $3, id, amount_cents, '${OUT_OF_STOCK_AFTER_PAYMENT}', 'pending' FROM failed
     RETURNING id`,
    [o.orderId, o.paymentIntentId, o.refundId, o.eventCreated, o.productId],
  );
  return rows.length > 0;
}
