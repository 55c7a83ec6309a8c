import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'refunded';

export interface OrderLine extends LineQuantity {
  unitPriceCents: number;
  refundedQuantity: number;
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
  failureProductId: string | null;
  lines: OrderLine[];
}

export interface NewOrder {
  id: string;
  idempotencyKey: string;
  requestHash: string;
  customerId: string;
  paymentMethodId: string;
  amountCents: number;
  currency: string;
  lines: { productId: string; quantity: number; unitPriceCents: number }[];
}

const ORDER_COLUMNS = `o.id, o.idempotency_key, o.request_hash, o.customer_id, o.payment_method_id, o.status,
  o.amount_cents, o.currency, o.payment_intent_id, o.failure_code, o.decline_code, o.failure_product_id,
  (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
     'unitPriceCents', i.unit_price_cents, 'refundedQuantity', i.refunded_quantity) ORDER BY i.product_id)
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
  failure_product_id: string | null;
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
    failureProductId: row.failure_product_id,
    lines: row.lines ?? [],
  };
}

/**
 * Records an order and its lines in one statement, owned by this request for `leaseSeconds`.
 * Returns false when the idempotency key already has an order (the unique key is the durable guard).
 */
export async function insertOrder(db: Db, order: NewOrder, leaseSeconds: number): Promise<boolean> {
  const { rows } = await db.query(
    `WITH o AS (
       INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status,
                           amount_cents, currency, locked_until)
       VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, now() + make_interval(secs => $8))
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id
     ), items AS (
       INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
       SELECT o.id, x.product_id, x.quantity, x.unit_price_cents
         FROM o, unnest($9::text[], $10::int[], $11::int[]) AS x(product_id, quantity, unit_price_cents)
     )
     SELECT id FROM o`,
    [
      order.id,
      order.idempotencyKey,
      order.requestHash,
      order.customerId,
      order.paymentMethodId,
      order.amountCents,
      order.currency,
      leaseSeconds,
      order.lines.map((l) => l.productId),
      order.lines.map((l) => l.quantity),
      order.lines.map((l) => l.unitPriceCents),
    ],
  );
  return rows.length === 1;
}

export async function findOrder(db: Db, orderId: string): Promise<Order | null> {
  const { rows } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders o WHERE o.id = $1`, [orderId]);
  return rows[0] ? toOrder(rows[0]) : null;
}

export async function findOrderByKey(db: Db, idempotencyKey: string): Promise<Order | null> {
  const { rows } = await db.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders o WHERE o.idempotency_key = $1`, [idempotencyKey]);
  return rows[0] ? toOrder(rows[0]) : null;
}

/** Locks the order row for the rest of the transaction `tx` and reads it. */
export async function lockOrder(tx: Db, orderId: string): Promise<Order | null> {
  const { rows } = await tx.query<OrderRow>(`SELECT ${ORDER_COLUMNS} FROM orders o WHERE o.id = $1 FOR UPDATE OF o`, [orderId]);
  return rows[0] ? toOrder(rows[0]) : null;
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

/** The order waits for a webhook (or the provider): keep it pending, remember its PaymentIntent. */
export async function leavePending(db: Db, orderId: string, paymentIntentId: string | null): Promise<void> {
  await db.query(
    `UPDATE orders SET payment_intent_id = COALESCE($2, payment_intent_id), locked_until = NULL, updated_at = now()
      WHERE id = $1`,
    [orderId, paymentIntentId],
  );
}
