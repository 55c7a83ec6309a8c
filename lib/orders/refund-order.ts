import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import type { Db } from '../db';
import { IdempotencyKeyMismatchError, OrderNotFoundError, OrderNotRefundableError, PaymentProviderUnavailableError, RefundQuantityExceededError } from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent, type IdempotentResult } from '../idempotency/store';
import { settleHold } from '../inventory/reservations';
import { giveBackStock } from '../inventory/stock';
import { PaymentProviderError } from '../payments/payments';
import { lockOrder, type Order } from './order-store';
import { UUID, type RefundRequest } from './refund-request';

type RefundDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'>;

/** Seconds a client should wait before retrying while Stripe is unavailable. */
const PROVIDER_RETRY_AFTER_SECONDS = 2;

export interface RefundLine {
  productId: string;
  quantity: number;
  amountCents: number;
}

export interface RefundView {
  id: string;
  orderId: string;
  amountCents: number;
  stripeRefundId: string | null;
  reason: string | null;
  status: 'pending' | 'succeeded';
  createdAt: string;
  items: RefundLine[];
}

interface RefundRow {
  id: string;
  order_id: string;
  amount_cents: number;
  stripe_refund_id: string | null;
  reason: string | null;
  status: 'pending' | 'succeeded';
  created_at: Date;
  items: RefundLine[] | null;
}

const REFUND_COLUMNS = `r.id, r.order_id, r.amount_cents, r.stripe_refund_id, r.reason, r.status, r.created_at,
  (SELECT json_agg(json_build_object('productId', ri.product_id, 'quantity', ri.quantity, 'amountCents', ri.amount_cents)
     ORDER BY ri.product_id) FROM refund_items ri WHERE ri.refund_id = r.id) AS items`;

function toView(row: RefundRow): RefundView {
  return {
    id: row.id,
    orderId: row.order_id,
    amountCents: row.amount_cents,
    stripeRefundId: row.stripe_refund_id,
    reason: row.reason,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    items: row.items ?? [],
  };
}

export async function refundsOf(db: Db, orderId: string): Promise<RefundView[]> {
  const { rows } = await db.query<RefundRow>(`SELECT ${REFUND_COLUMNS} FROM refunds r WHERE r.order_id = $1 ORDER BY r.created_at, r.id`, [orderId]);
  return rows.map(toView);
}

/**
 * POST /orders/{orderId}/refunds. Phases: refund recorded (order row locked, quantities counted, so
 * two refunds at once can never pass what was bought) -> Stripe refund (idempotency key from our
 * refund row) -> stock given back and order status updated (once, when the row turns succeeded).
 * A refund Stripe could not confirm stays pending and is completed by the next refund request on the
 * order, so it is never lost and never sent twice.
 */
export async function refundOrder(
  deps: RefundDeps,
  orderId: string,
  request: RefundRequest,
  idempotencyKey: string | undefined,
): Promise<IdempotentResult> {
  if (!UUID.test(orderId)) throw new OrderNotFoundError(orderId);
  if (idempotencyKey === undefined) return refund(deps, orderId, request, null);
  // Scoped by order: a refund key never collides with a create-order key or another order's.
  const key = { key: `${orderId}:${idempotencyKey}`, hash: fingerprint(request) };
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  return idempotent(deps.redis, `refund:${key.key}`, key.hash, ttl, () => refund(deps, orderId, request, key));
}

async function refund(
  deps: RefundDeps,
  orderId: string,
  request: RefundRequest,
  idempotency: { key: string; hash: string } | null,
): Promise<IdempotentResult> {
  await completePendingRefunds(deps, orderId);
  const recorded = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw new OrderNotFoundError(orderId);
    if (idempotency) {
      // The durable guard: a refund already recorded under this key (its answer lost with Redis,
      // or a 503 the client retries) is that refund, never a second one.
      const { rows } = await tx.query<{ id: string; request_hash: string }>('SELECT id, request_hash FROM refunds WHERE idempotency_key = $1', [
        idempotency.key,
      ]);
      if (rows[0] && rows[0].request_hash !== idempotency.hash) throw new IdempotencyKeyMismatchError();
      if (rows[0]) return { id: rows[0].id, paymentIntentId: null, existing: true };
    }
    if (order.status !== 'paid' || !order.paymentIntentId) throw new OrderNotRefundableError(orderId, order.status);
    const lines = refundLines(order, request);
    const id = randomUUID();
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
        id,
        orderId,
        lines.reduce((sum, l) => sum + l.amountCents, 0),
        request.reason ?? null,
        lines.map((l) => l.productId),
        lines.map((l) => l.quantity),
        lines.map((l) => l.amountCents),
        idempotency?.key ?? null,
        idempotency?.hash ?? null,
      ],
    );
    return { id, paymentIntentId: order.paymentIntentId, existing: false };
  });
  if (recorded.paymentIntentId) await sendToStripe(deps, orderId, recorded.id, recorded.paymentIntentId);
  const { rows } = await deps.db.query<RefundRow & { order_status: string }>(
    `SELECT ${REFUND_COLUMNS}, o.status AS order_status FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.id = $1`,
    [recorded.id],
  );
  const row = rows[0] as RefundRow & { order_status: string };
  return { statusCode: 201, body: { refund: toView(row), order: { id: orderId, status: row.order_status } }, replayed: recorded.existing };
}

/** The lines to refund: those asked for, or everything not yet refunded. */
function refundLines(order: Order, request: RefundRequest): RefundLine[] {
  const bought = new Map(order.lines.map((l) => [l.productId, l]));
  const asked = request.items ?? order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity - l.refundedQuantity }));
  const lines = asked
    .filter((a) => a.quantity > 0)
    .map(({ productId, quantity }) => {
      const line = bought.get(productId);
      const refundable = line ? line.quantity - line.refundedQuantity : 0;
      if (!line || quantity > refundable) throw new RefundQuantityExceededError(productId, refundable);
      return { productId, quantity, amountCents: quantity * line.unitPriceCents };
    });
  if (lines.length === 0) throw new OrderNotRefundableError(order.id, 'refunded');
  return lines;
}

async function sendToStripe(deps: RefundDeps, orderId: string, refundId: string, paymentIntentId: string): Promise<void> {
  const { rows } = await deps.db.query<{ amount_cents: number; reason: RefundRequest['reason'] | null }>(
    'SELECT amount_cents, reason FROM refunds WHERE id = $1',
    [refundId],
  );
  const refund = rows[0];
  if (!refund) return;
  let stripeRefundId: string;
  try {
    ({ refundId: stripeRefundId } = await deps.payments.refund({
      paymentIntentId,
      amountCents: refund.amount_cents,
      idempotencyKey: `refund-${refundId}`,
      ...(refund.reason ? { reason: refund.reason } : {}),
      metadata: { order_id: orderId, refund_id: refundId },
    }));
  } catch (error) {
    if (!(error instanceof PaymentProviderError)) throw error;
    throw new PaymentProviderUnavailableError(PROVIDER_RETRY_AFTER_SECONDS, { orderId, refundId });
  }
  const givenBack = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId);
    const { rows: items } = await tx.query<{ product_id: string; quantity: number }>(
      `WITH done AS (
         UPDATE refunds SET status = 'succeeded', stripe_refund_id = $2 WHERE id = $1 AND status = 'pending' RETURNING id
       )
       SELECT ri.product_id, ri.quantity FROM refund_items ri JOIN done ON done.id = ri.refund_id ORDER BY ri.product_id`,
      [refundId, stripeRefundId],
    );
    if (items.length === 0 || !order) return []; // completed by another request already
    // The stock comes back exactly once: with the one update that turns this refund succeeded.
    const lines = items.map((i) => ({ productId: i.product_id, quantity: i.quantity }));
    await giveBackStock(tx, lines);
    await tx.query(
      `UPDATE orders o SET status = 'refunded', updated_at = now()
        WHERE o.id = $1 AND o.status = 'paid'
          AND NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.refunded_quantity < i.quantity)
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id AND r.status = 'pending')`,
      [orderId],
    );
    return lines;
  });
  if (givenBack.length > 0) await settleHold(deps.redis, orderId, givenBack);
}

/** Refunds an earlier request recorded but Stripe did not confirm: sent again with their own key. */
async function completePendingRefunds(deps: RefundDeps, orderId: string): Promise<void> {
  const { rows } = await deps.db.query<{ id: string; payment_intent_id: string }>(
    `SELECT r.id, o.payment_intent_id FROM refunds r JOIN orders o ON o.id = r.order_id
      WHERE r.order_id = $1 AND r.status = 'pending' AND o.payment_intent_id IS NOT NULL
        AND EXISTS (SELECT 1 FROM refund_items ri WHERE ri.refund_id = r.id)
      ORDER BY r.created_at`,
    [orderId],
  );
  for (const pending of rows) await sendToStripe(deps, orderId, pending.id, pending.payment_intent_id);
}
