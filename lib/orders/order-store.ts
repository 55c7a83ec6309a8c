import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';
import type { Cause } from './history';

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'refunded' | 'canceled';

export interface OrderLine extends LineQuantity {
  unitPriceCents: number;
  refundedQuantity: number;
  /** Units whose stock has been given back (by refunds that succeeded, even if Stripe later failed them). */
  restockedQuantity: number;
}

export interface Order {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  customerId: string;
  paymentMethodId: string;
  status: OrderStatus;
  amountCents: number;
  currency: string;
  paymentIntentId: string | null;
  failureCode: string | null;
  declineCode: string | null;
  /** Stripe's message for a declined payment, answered again with the 402. */
  declineMessage: string | null;
  failureProductId: string | null;
  /** `created` of the last Stripe event applied (Unix seconds): older events never move the order back. */
  lastEventCreated: number | null;
  lines: OrderLine[];
}

const ORDER_COLUMNS = `o.id, o.idempotency_key, o.request_hash, o.customer_id, o.payment_method_id, o.status,
  o.amount_cents, o.currency, o.payment_intent_id, o.failure_code, o.decline_code, o.decline_message, o.failure_product_id,
  o.last_event_created,
  (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
     'unitPriceCents', i.unit_price_cents, 'refundedQuantity', i.refunded_quantity,
     'restockedQuantity', i.restocked_quantity) ORDER BY i.product_id)
     FROM order_items i WHERE i.order_id = o.id) AS lines`;

interface OrderRow {
  id: string;
  idempotency_key: string;
  request_hash: string;
  customer_id: string;
  payment_method_id: string;
  status: OrderStatus;
  amount_cents: number;
  currency: string;
  payment_intent_id: string | null;
  failure_code: string | null;
  decline_code: string | null;
  decline_message: string | null;
  failure_product_id: string | null;
  last_event_created: string | null;
  lines: OrderLine[] | null;
}

function toOrder(row: OrderRow): Order {
  return {
    id: row.id,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    customerId: row.customer_id,
    paymentMethodId: row.payment_method_id,
    status: row.status,
    amountCents: row.amount_cents,
    currency: row.currency,
    paymentIntentId: row.payment_intent_id,
    failureCode: row.failure_code,
    declineCode: row.decline_code,
    declineMessage: row.decline_message,
    failureProductId: row.failure_product_id,
    lastEventCreated: row.last_event_created === null ? null : Number(row.last_event_created),
    lines: row.lines ?? [],
  };
}

export interface OrderDraft {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  customerId: string;
  paymentMethodId: string;
  lines: { productId: string; quantity: number }[];
}

/** A requested line with the catalogue's price and currency (null: no such product). */
export interface PricedLine {
  productId: string;
  quantity: number;
  unitPriceCents: number | null;
  currency: string | null;
}

/**
 * Prices the lines from the catalogue and, when every product exists in one currency and the total
 * is at most `maxAmountCents`, records the order, its lines and its first history row ('created',
 * source 'api': only POST /orders creates orders): one statement, one round trip, owned by this
 * request for `leaseSeconds`. `inserted` is false when a line is refused (nothing is
 * written) or when the idempotency key already has an order (the unique key is the durable guard).
 */
export async function priceAndInsertOrder(
  db: Db,
  draft: OrderDraft,
  leaseSeconds: number,
  maxAmountCents: number,
): Promise<{ inserted: boolean; lines: PricedLine[] }> {
  const { rows } = await db.query<{
    product_id: string;
    quantity: number;
    price_cents: number | null;
    currency: string | null;
    inserted: boolean;
  }>(
    `WITH priced AS (
       SELECT w.product_id, w.quantity, w.n, p.price_cents, p.currency
         FROM unnest($6::text[], $7::int[]) WITH ORDINALITY AS w(product_id, quantity, n)
         LEFT JOIN products p ON p.id = w.product_id
     ), total AS (
       SELECT bool_and(price_cents IS NOT NULL) AS known, count(DISTINCT currency) AS currencies,
              sum(quantity::bigint * price_cents) AS amount, min(currency) AS currency
         FROM priced
     ), o AS (
       INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status,
                           amount_cents, currency, locked_until)
       SELECT $1, $2, $3, $4, $5, 'pending', t.amount, t.currency, now() + make_interval(secs => $8)
         FROM total t WHERE t.known AND t.currencies = 1 AND t.amount <= $9
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id
     ), items AS (
       INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
       SELECT o.id, p.product_id, p.quantity, p.price_cents FROM o, priced p
     ), created AS (
       INSERT INTO order_events (order_id, type, source, data)
       SELECT o.id, 'created', 'api', jsonb_build_object('amountCents', t.amount, 'currency', t.currency,
                'customerId', $4::text,
                'items', (SELECT jsonb_agg(jsonb_build_object('productId', p.product_id, 'quantity', p.quantity,
                                                              'unitPriceCents', p.price_cents) ORDER BY p.product_id)
                            FROM priced p))
         FROM o, total t
     )
     SELECT p.product_id, p.quantity, p.price_cents, p.currency, EXISTS (SELECT 1 FROM o) AS inserted
       FROM priced p ORDER BY p.n`,
    [
      draft.id,
      draft.idempotencyKey,
      draft.requestHash,
      draft.customerId,
      draft.paymentMethodId,
      draft.lines.map((l) => l.productId),
      draft.lines.map((l) => l.quantity),
      leaseSeconds,
      maxAmountCents,
    ],
  );
  return {
    inserted: rows[0]?.inserted ?? false,
    lines: rows.map((r) => ({
      productId: r.product_id,
      quantity: r.quantity,
      unitPriceCents: r.price_cents,
      currency: r.currency,
    })),
  };
}

/** The order whose `column` (its id, PaymentIntent or Idempotency-Key, each unique) is `value`. */
async function findBy(
  db: Db,
  column: 'id' | 'payment_intent_id' | 'idempotency_key',
  value: string,
): Promise<Order | null> {
  const { rows } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders o WHERE o.${column} = $1`, [value]);
  return rows[0] ? toOrder(rows[0]) : null;
}

export const findOrder = (db: Db, orderId: string) => findBy(db, 'id', orderId);
/** Only the id of the order holding this PaymentIntent: what a webhook needs to know which order to lock. */
export async function orderIdByPaymentIntent(db: Db, paymentIntentId: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM orders WHERE payment_intent_id = $1', [
    paymentIntentId,
  ]);
  return rows[0]?.id ?? null;
}

export const findOrderByPaymentIntent = (db: Db, paymentIntentId: string) =>
  findBy(db, 'payment_intent_id', paymentIntentId);
export const findOrderByKey = (db: Db, idempotencyKey: string) => findBy(db, 'idempotency_key', idempotencyKey);

/**
 * Locks the order row for the rest of the transaction `tx`, then reads the order. Two statements on
 * purpose (the locking rule, ARCHITECTURE.md): under READ COMMITTED a statement that waits for a
 * row lock still reads every other table (order_items, refunds) as of its own start, so
 * a `SELECT ... FOR UPDATE` that also reads the lines would decide on what another writer changed
 * while we waited. The read that follows the lock starts after it, and sees every earlier writer.
 */
export async function lockOrder(tx: Db, orderId: string): Promise<Order | null> {
  return (await lockOrderRow(tx, orderId)) ? findOrder(tx, orderId) : null;
}

/** Only the lock (see lockOrder), for a writer whose own statements read what they decide on. */
export async function lockOrderRow(tx: Db, orderId: string): Promise<boolean> {
  const { rowCount } = await tx.query('SELECT 1 FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
  return rowCount === 1;
}

/** Takes the lease on a pending order whose last request is gone. False: another request owns it. */
export async function claimOrder(db: Db, orderId: string, leaseSeconds: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE orders SET locked_until = now() + make_interval(secs => $2), updated_at = now()
      WHERE id = $1 AND status = 'pending' AND (locked_until IS NULL OR locked_until < now())`,
    [orderId, leaseSeconds],
  );
  return rowCount === 1;
}

/**
 * The order waits for a webhook (or the provider): keep it pending, remember its PaymentIntent.
 * `waiting`: Stripe said the payment needs more time (`status`: processing, requires_action); the
 * order's history gets 'payment_pending' in the same statement, once per order (a retry that finds
 * the payment still waiting adds nothing), and only while the order is still pending.
 */
export async function leavePending(
  db: Db,
  orderId: string,
  paymentIntentId: string | null,
  waiting: { cause: Cause; status: string } | null,
): Promise<void> {
  await db.query(
    `WITH o AS (
       UPDATE orders SET payment_intent_id = COALESCE($2, payment_intent_id), locked_until = NULL, updated_at = now()
        WHERE id = $1
        RETURNING id, status, failure_code, payment_intent_id
     )
     INSERT INTO order_events (order_id, type, source, stripe_event_id, data)
     SELECT o.id, 'payment_pending', $3::text, $4::text,
            jsonb_build_object('paymentIntentId', o.payment_intent_id, 'paymentStatus', $5::text)
       FROM o
      WHERE $3::text IS NOT NULL AND o.status = 'pending' AND o.failure_code IS NULL
        AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type = 'payment_pending')`,
    [
      orderId,
      paymentIntentId,
      waiting?.cause.source ?? null,
      waiting?.cause.stripeEventId ?? null,
      waiting?.status ?? null,
    ],
  );
}
