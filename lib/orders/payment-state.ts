import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import type { Db } from '../db';
import type { LineQuantity } from '../inventory/reservations';
import { release } from '../inventory/reservations';
import { giveBackStock, StockUnavailableError, takeStock } from '../inventory/stock';
import type { OrderLine, OrderStatus } from './order-store';

/**
 * The order's payment state machine, shared by create-order (synchronous answer from Stripe) and
 * the webhook (asynchronous events). Stock moves with the status, under the order's row lock:
 * entering 'paid' takes it (guarded), leaving 'paid' gives it back, so each happens exactly once.
 */

/** A Stripe event's `created` (Unix seconds): an order never moves back to an older event's status. */
export interface PaymentEvent {
  created: number;
}

export const OUT_OF_STOCK_AFTER_PAYMENT = 'out_of_stock_after_payment';

export type PaidOutcome =
  | { kind: 'paid' }
  /** Already paid, or the event is older than the one last applied. */
  | { kind: 'unchanged' }
  /** Paid, but the stock was gone (an expired hold): the order failed and the payment was refunded. */
  | { kind: 'out_of_stock'; productId: string };

export type FailedOutcome = { kind: 'failed' } | { kind: 'unchanged' };

export interface FailureFields {
  paymentIntentId: string | null;
  failureCode: string | null;
  declineCode: string | null;
  /** The product that lacked stock. */
  productId?: string;
}

interface TransitionRow {
  previous: OrderStatus;
  lines: OrderLine[];
}

/**
 * Moves the order to `status` if it may move, and returns what it was. Synchronous answers count as
 * an event of "now", so an older webhook cannot undo them. With an event: a newer-or-same-second
 * event moves to 'paid' (a succeeded PaymentIntent is final), only a strictly newer one to 'failed'.
 */
async function transition(
  tx: Db,
  orderId: string,
  status: 'paid' | 'failed',
  fields: FailureFields,
  event: PaymentEvent | undefined,
): Promise<TransitionRow | undefined> {
  const newerThanLast = status === 'paid' ? 'o.last_event_created <= $6' : 'o.last_event_created < $6';
  const { rows } = await tx.query<TransitionRow>(
    `UPDATE orders o
        SET status = $2, failure_code = $4, decline_code = $5, failure_product_id = $7,
            payment_intent_id = COALESCE(o.payment_intent_id, $3),
            last_event_created = GREATEST(o.last_event_created, COALESCE($6::bigint, extract(epoch FROM now())::bigint)),
            locked_until = NULL, updated_at = now()
       FROM (SELECT id, status FROM orders WHERE id = $1 FOR UPDATE) old
      WHERE o.id = old.id
        AND o.status IN ('pending', 'paid', 'failed')
        AND o.failure_code IS DISTINCT FROM '${OUT_OF_STOCK_AFTER_PAYMENT}'
        AND ($6::bigint IS NULL OR o.last_event_created IS NULL OR ${newerThanLast})
      RETURNING old.status AS previous,
        (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
           'unitPriceCents', i.unit_price_cents, 'refundedQuantity', i.refunded_quantity) ORDER BY i.product_id)
           FROM order_items i WHERE i.order_id = o.id) AS lines`,
    [orderId, status, fields.paymentIntentId, fields.failureCode, fields.declineCode, event?.created ?? null, fields.productId ?? null],
  );
  return rows[0];
}

/** Payment succeeded: the order enters 'paid' and takes its stock once; the hold is dropped. */
export async function settlePaid(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  orderId: string,
  paymentIntentId: string,
  event?: PaymentEvent,
): Promise<PaidOutcome> {
  let lines: OrderLine[] = [];
  try {
    const outcome = await deps.db.transaction(async (tx): Promise<PaidOutcome> => {
      const row = await transition(tx, orderId, 'paid', { paymentIntentId, failureCode: null, declineCode: null }, event);
      if (!row) return { kind: 'unchanged' };
      lines = row.lines;
      if (row.previous === 'paid') return { kind: 'unchanged' };
      await takeStock(tx, deps.redis, unrefunded(row.lines));
      return { kind: 'paid' };
    });
    if (outcome.kind === 'paid') await release(deps.redis, orderId, lines.map((l) => l.productId));
    return outcome;
  } catch (error) {
    if (!(error instanceof StockUnavailableError)) throw error;
    await failAfterPayment(deps, orderId, paymentIntentId, error.productId, lines, event);
    return { kind: 'out_of_stock', productId: error.productId };
  }
}

/** Payment failed (or never started): the order is 'failed'; stock it had taken is given back. */
export async function settleFailed(
  deps: Pick<Deps, 'db' | 'redis'>,
  orderId: string,
  fields: FailureFields & { failureCode: string },
  event?: PaymentEvent,
): Promise<FailedOutcome> {
  let lines: OrderLine[] = [];
  const outcome = await deps.db.transaction(async (tx): Promise<FailedOutcome> => {
    const row = await transition(tx, orderId, 'failed', fields, event);
    if (!row) return { kind: 'unchanged' };
    lines = row.lines;
    if (row.previous === 'paid') await giveBackStock(tx, deps.redis, unrefunded(row.lines));
    return { kind: 'failed' };
  });
  if (outcome.kind === 'failed') await release(deps.redis, orderId, lines.map((l) => l.productId));
  return outcome;
}

function unrefunded(lines: readonly OrderLine[]): LineQuantity[] {
  return lines
    .map((l) => ({ productId: l.productId, quantity: l.quantity - l.refundedQuantity }))
    .filter((l) => l.quantity > 0);
}

/**
 * The card was charged but the stock is gone (the hold expired and others bought it): the order
 * fails and the whole amount is refunded. The refund row is written first and its id is Stripe's
 * idempotency key, so a retry (webhook redelivery, client retry) completes it and never refunds twice.
 */
async function failAfterPayment(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  orderId: string,
  paymentIntentId: string,
  productId: string,
  lines: readonly OrderLine[],
  event: PaymentEvent | undefined,
): Promise<void> {
  const refund = await deps.db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string; amount_cents: number }>(
      `WITH failed AS (
         UPDATE orders o SET status = 'failed', failure_code = '${OUT_OF_STOCK_AFTER_PAYMENT}', failure_product_id = $5,
                payment_intent_id = COALESCE(o.payment_intent_id, $2),
                last_event_created = GREATEST(o.last_event_created, $4::bigint), locked_until = NULL, updated_at = now()
          WHERE o.id = $1 RETURNING o.id, o.amount_cents
       )
       INSERT INTO refunds (id, order_id, amount_cents, reason, status)
       SELECT $3, id, amount_cents, '${OUT_OF_STOCK_AFTER_PAYMENT}', 'pending' FROM failed
       RETURNING id, amount_cents`,
      [orderId, paymentIntentId, randomUUID(), event?.created ?? null, productId],
    );
    return rows[0];
  });
  await release(deps.redis, orderId, lines.map((l) => l.productId));
  if (refund) await completeOutOfStockRefund(deps, orderId, paymentIntentId);
}

/** Sends the pending out-of-stock refund of an order to Stripe and records Stripe's id. */
export async function completeOutOfStockRefund(
  deps: Pick<Deps, 'db' | 'payments'>,
  orderId: string,
  paymentIntentId: string,
): Promise<void> {
  const { rows } = await deps.db.query<{ id: string; amount_cents: number }>(
    `SELECT id, amount_cents FROM refunds WHERE order_id = $1 AND reason = $2 AND status = 'pending'`,
    [orderId, OUT_OF_STOCK_AFTER_PAYMENT],
  );
  for (const refund of rows) {
    const { refundId } = await deps.payments.refund({
      paymentIntentId,
      amountCents: refund.amount_cents,
      idempotencyKey: `refund-${refund.id}`,
      metadata: { order_id: orderId, refund_id: refund.id, reason: OUT_OF_STOCK_AFTER_PAYMENT },
    });
    await deps.db.query(`UPDATE refunds SET stripe_refund_id = $2, status = 'succeeded' WHERE id = $1`, [refund.id, refundId]);
  }
}
