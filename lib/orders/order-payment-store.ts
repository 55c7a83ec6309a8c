import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';
import type { Cause } from './history';
import type { OrderStatus } from './order-store';

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
 * The order that `paid` (an UPDATE ... RETURNING id, amount_cents, currency, payment_intent_id,
 * customer_id) just paid gets its history row and its 'order.paid' event in the same statement, so
 * the confirm stays one round trip. The payload is order_paid's (db/migrations/1733200000000).
 * $5, $6: the cause's source and Stripe event id.
 */
const PAID_RECORDED = `
  payload AS (
    SELECT p.id, jsonb_build_object('amountCents', p.amount_cents, 'currency', p.currency,
             'paymentIntentId', p.payment_intent_id, 'customerId', p.customer_id,
             'items', (SELECT jsonb_agg(jsonb_build_object('productId', i.product_id, 'quantity', i.quantity,
                                                           'unitPriceCents', i.unit_price_cents) ORDER BY i.product_id)
                         FROM order_items i WHERE i.order_id = p.id)) AS j
      FROM paid p
  ), history AS (
    INSERT INTO order_events (order_id, type, source, stripe_event_id, data)
    SELECT id, 'paid', $5::text, $6::text, j FROM payload
  ), published AS (
    INSERT INTO outbox (topic, order_id, payload) SELECT 'order.paid', id, j FROM payload
  )`;
const PAID_RETURNING = 'RETURNING id, amount_cents, currency, payment_intent_id, customer_id';

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
    ${PAID_RETURNING}
  ), ${PAID_RECORDED}
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
    ${PAID_RETURNING}
  ), ${PAID_RECORDED}
  SELECT EXISTS (SELECT 1 FROM paid) AS paid`;

/** A pending order with these lines paid in one statement; false (nothing changed) for order_paid to sort out. */
export async function payPending(
  db: Db,
  orderId: string,
  paymentIntentId: string,
  lines: readonly LineQuantity[],
  cause: Cause,
): Promise<boolean> {
  const { rows } = await db.query<{ paid: boolean }>(lines.length === 1 ? PAY_PENDING_ONE_LINE : PAY_PENDING, [
    orderId,
    paymentIntentId,
    lines.map((l) => l.productId),
    lines.map((l) => l.quantity),
    cause.source,
    cause.stripeEventId ?? null,
  ]);
  return rows[0]?.paid === true;
}

export interface OrderPaidRow {
  outcome: 'paid' | 'unchanged' | 'out_of_stock' | 'not_found';
  previous: string | null;
  short_product: string | null;
  lines: LineQuantity[] | null;
}

/**
 * The order_paid function (db/migrations): lock, decide, take the stock, mark paid, and, when the
 * order enters 'paid', its history and 'order.paid' rows; one round trip.
 */
export async function orderPaid(
  db: Db,
  orderId: string,
  paymentIntentId: string,
  eventCreated: number | null,
  cause: Cause,
): Promise<OrderPaidRow | undefined> {
  const { rows } = await db.query<OrderPaidRow>('SELECT * FROM order_paid($1, $2, $3, $4, $5)', [
    orderId,
    paymentIntentId,
    eventCreated,
    cause.source,
    cause.stripeEventId ?? null,
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

/** Who failed the order and what it was before: its history says whether stock went back. */
export interface FailureHistory {
  cause: Cause;
  previous: OrderStatus;
  /** The stock given back with it (a paid order's unrefunded lines), else empty. */
  stockGivenBack: readonly LineQuantity[];
}

/**
 * The order marked failed; its caller holds the order's lock and has decided it may move. An order
 * entering 'failed' gets its history row ('payment_failed') and 'order.payment_failed' in the same
 * statement; an order already failed (a newer decline) only has its decline fields follow the event.
 */
export async function markFailed(
  tx: Db,
  orderId: string,
  fields: FailureFields,
  eventCreated: number | null,
  history: FailureHistory,
): Promise<void> {
  const wasPaid = history.previous === 'paid';
  await tx.query(
    `WITH failed AS (
       UPDATE orders o
          SET status = 'failed', failure_code = $3, decline_code = $4, failure_product_id = $6, decline_message = $7,
              payment_intent_id = COALESCE(o.payment_intent_id, $2),
              last_event_created = GREATEST(o.last_event_created, COALESCE($5::bigint, ${NOW_SECONDS})),
              locked_until = NULL, updated_at = now()
        WHERE o.id = $1
        RETURNING o.id, o.amount_cents, o.currency, o.customer_id, o.payment_intent_id
     ), payload AS (
       SELECT f.id, jsonb_build_object('failureCode', $3::text, 'declineCode', $4::text,
                'paymentIntentId', f.payment_intent_id, 'amountCents', f.amount_cents, 'currency', f.currency,
                'customerId', f.customer_id, 'previousStatus', $8::text)
              || CASE WHEN $6::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('productId', $6::text) END AS j
         FROM failed f WHERE $8::text <> 'failed'
     ), history AS (
       INSERT INTO order_events (order_id, type, source, stripe_event_id, data)
       SELECT id, 'payment_failed', $9::text, $10::text, j || $11::jsonb FROM payload
     )
     INSERT INTO outbox (topic, order_id, payload) SELECT 'order.payment_failed', id, j FROM payload`,
    [
      orderId,
      fields.paymentIntentId,
      fields.failureCode,
      fields.declineCode,
      eventCreated,
      fields.productId ?? null,
      fields.declineMessage ?? null,
      history.previous,
      history.cause.source,
      history.cause.stripeEventId ?? null,
      // A paid order's failure gives its stock back: its history says so, and what.
      JSON.stringify(wasPaid ? { stockGivenBack: history.stockGivenBack } : {}),
    ],
  );
}

/**
 * A paid-for order whose stock is gone: failed out_of_stock_after_payment and its full refund
 * recorded (pending, id `refundId`, asked for by the cause's source), with its history rows
 * ('out_of_stock_after_payment', then 'refund_requested') and 'order.payment_failed', in one
 * statement that re-checks the order on the row it locks.
 * False: another writer paid or settled it meanwhile, and nothing changed.
 */
export async function failOutOfStock(
  db: Db,
  o: {
    orderId: string;
    paymentIntentId: string;
    refundId: string;
    eventCreated: number | null;
    productId: string;
    cause: Cause;
  },
): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH failed AS (
       UPDATE orders o SET status = 'failed', failure_code = '${OUT_OF_STOCK_AFTER_PAYMENT}', failure_product_id = $5,
              payment_intent_id = COALESCE(o.payment_intent_id, $2),
              last_event_created = GREATEST(o.last_event_created, COALESCE($4::bigint, ${NOW_SECONDS})),
              locked_until = NULL, updated_at = now()
        WHERE o.id = $1 AND o.status IN ('pending', 'failed') AND o.failure_code IS DISTINCT FROM '${OUT_OF_STOCK_AFTER_PAYMENT}'
        RETURNING o.id, o.amount_cents, o.currency, o.customer_id, o.payment_intent_id
     ), refund AS (
       INSERT INTO refunds (id, order_id, amount_cents, reason, status, source)
       SELECT $3, id, amount_cents, '${OUT_OF_STOCK_AFTER_PAYMENT}', 'pending', $6 FROM failed
       RETURNING id
     ), history AS (
       INSERT INTO order_events (order_id, type, source, stripe_event_id, data)
       SELECT f.id, e.type, $6, $7, e.data FROM failed f CROSS JOIN LATERAL (VALUES
         (1, 'out_of_stock_after_payment', jsonb_build_object('failureCode', '${OUT_OF_STOCK_AFTER_PAYMENT}',
            'productId', $5::text, 'paymentIntentId', f.payment_intent_id, 'amountCents', f.amount_cents,
            'currency', f.currency)),
         (2, 'refund_requested', jsonb_build_object('refundId', $3::uuid, 'amountCents', f.amount_cents,
            'currency', f.currency, 'reason', '${OUT_OF_STOCK_AFTER_PAYMENT}', 'items', '[]'::jsonb))
       ) AS e(n, type, data)
       ORDER BY e.n
     ), published AS (
       INSERT INTO outbox (topic, order_id, payload)
       SELECT 'order.payment_failed', f.id, jsonb_build_object('failureCode', '${OUT_OF_STOCK_AFTER_PAYMENT}',
                'declineCode', NULL, 'productId', $5::text, 'paymentIntentId', f.payment_intent_id, 'amountCents', f.amount_cents,
                'currency', f.currency, 'customerId', f.customer_id, 'refundId', $3::uuid)
         FROM failed f
     )
     SELECT id FROM refund`,
    [
      o.orderId,
      o.paymentIntentId,
      o.refundId,
      o.eventCreated,
      o.productId,
      o.cause.source,
      o.cause.stripeEventId ?? null,
    ],
  );
  return rows.length > 0;
}
