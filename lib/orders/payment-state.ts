import { randomUUID } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import type { Db } from '../db';
import type { Deps } from '../deps';
import { type LineQuantity, release, settleHold } from '../inventory/reservations';
import { giveBackStock } from '../inventory/stock';
import { lockOrder, type OrderLine, type OrderStatus } from './order-store';
import { pendingRefunds } from './refund-store';
import { sendRefund } from './send-refund';

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
  /** Paid now, or already paid and the event is not older than the last one applied (no stock moves). */
  | { kind: 'paid' }
  /** The event is older than the one last applied, or the order is past the payment states. */
  | { kind: 'unchanged' }
  /**
   * Paid, but the stock was gone (an expired hold), or the order had been refused for stock: the
   * order failed out_of_stock_after_payment and the payment was refunded in full.
   */
  | { kind: 'out_of_stock'; productId: string };

/** 'paid': the order is paid and stays so until Stripe says its PaymentIntent did not succeed. */
export type FailedOutcome = { kind: 'failed' } | { kind: 'unchanged' } | { kind: 'paid' };

export interface FailureFields {
  paymentIntentId: string | null;
  failureCode: string | null;
  declineCode: string | null;
  /** The product that lacked stock. */
  productId?: string;
}

/**
 * Moves the order to 'failed' if it may move, and returns what it was. The order's row is locked
 * first (lockOrder), and the decision is made on what is read after the lock (the locking rule).
 * Synchronous answers count as an event of "now", so an older webhook cannot undo them. With an
 * event, only a strictly newer one moves an order to 'failed' (a same-second tie goes to 'paid': a
 * succeeded PaymentIntent is final; the order_paid function holds the 'paid' side of the rule).
 * A 'paid' order leaves 'paid' only on Stripe's word that its PaymentIntent did not succeed
 * (`stripeSaysNotPaid`): otherwise the answer is 'paid', and the caller asks Stripe.
 */
async function toFailed(
  tx: Db,
  orderId: string,
  fields: FailureFields,
  event: PaymentEvent | undefined,
  stripeSaysNotPaid: boolean,
): Promise<{ moved: false; paid: boolean } | { moved: true; previous: OrderStatus; lines: OrderLine[] }> {
  const order = await lockOrder(tx, orderId);
  const mayMove =
    order !== null &&
    ['pending', 'paid', 'failed'].includes(order.status) &&
    order.failureCode !== OUT_OF_STOCK_AFTER_PAYMENT &&
    (event === undefined || order.lastEventCreated === null || order.lastEventCreated < event.created);
  if (!order || !mayMove) return { moved: false, paid: false };
  if (order.status === 'paid' && !stripeSaysNotPaid) return { moved: false, paid: true };
  await markFailed(tx, orderId, fields, event);
  return { moved: true, previous: order.status, lines: order.lines };
}

async function markFailed(
  tx: Db,
  orderId: string,
  fields: FailureFields,
  event: PaymentEvent | undefined,
): Promise<void> {
  await tx.query(
    `UPDATE orders o
        SET status = 'failed', failure_code = $3, decline_code = $4, failure_product_id = $6,
            payment_intent_id = COALESCE(o.payment_intent_id, $2),
            last_event_created = GREATEST(o.last_event_created, COALESCE($5::bigint, floor(extract(epoch FROM now()))::bigint)),
            locked_until = NULL, updated_at = now()
      WHERE o.id = $1`,
    [
      orderId,
      fields.paymentIntentId,
      fields.failureCode,
      fields.declineCode,
      event?.created ?? null,
      fields.productId ?? null,
    ],
  );
}

interface OrderPaidRow {
  outcome: 'paid' | 'unchanged' | 'out_of_stock' | 'not_found';
  previous: OrderStatus | null;
  short_product: string | null;
  lines: LineQuantity[] | null;
}

/** `redisBatch`: queue the Redis step there instead of sending it now (see idempotent()). */
export type SettleDeps = Pick<Deps, 'db' | 'redis' | 'payments'> & { redisBatch?: ChainableCommander };

/**
 * Payment succeeded: the order enters 'paid' and takes its stock once, guarded, all lines or none;
 * then its hold leaves Redis as its stock leaves the mirror.
 *
 * `knownLines`: the caller that just placed the order knows its lines, and the order is usually still
 * pending: one statement pays it (payPending). Any other case (a webhook, an order that moved meanwhile,
 * stock that ran short) goes through the order_paid function, which reads the order and decides.
 */
export async function settlePaid(
  deps: SettleDeps,
  orderId: string,
  paymentIntentId: string,
  event?: PaymentEvent,
  knownLines?: readonly LineQuantity[],
): Promise<PaidOutcome> {
  if (knownLines && !event && (await payPending(deps.db, orderId, paymentIntentId, knownLines))) {
    await settleHold(
      deps.redis,
      orderId,
      knownLines.map((l) => ({ productId: l.productId, quantity: -l.quantity })),
      deps.redisBatch,
    );
    return { kind: 'paid' };
  }
  const { rows } = await deps.db.query<OrderPaidRow>('SELECT * FROM order_paid($1, $2, $3)', [
    orderId,
    paymentIntentId,
    event?.created ?? null,
  ]);
  const row = rows[0];
  const lines = row?.lines ?? [];
  switch (row?.outcome) {
    case 'paid':
      await settleHold(
        deps.redis,
        orderId,
        lines.map((l) => ({ productId: l.productId, quantity: row.previous === 'paid' ? 0 : -l.quantity })),
        deps.redisBatch,
      );
      return { kind: 'paid' };
    case 'out_of_stock':
      if (await failAfterPayment(deps, orderId, paymentIntentId, row.short_product ?? '', lines, event)) {
        return { kind: 'out_of_stock', productId: row.short_product ?? '' };
      }
      // Another writer paid (or settled) the order between order_paid's answer and our lock: decide again.
      return settlePaid(deps, orderId, paymentIntentId, event);
    default:
      return { kind: 'unchanged' };
  }
}

/** What paying an order sets, as order_paid does (a synchronous answer is an event of "now"). */
const PAID_SET = `UPDATE orders SET status = 'paid', payment_intent_id = COALESCE(payment_intent_id, $2),
           last_event_created = GREATEST(last_event_created, floor(extract(epoch FROM now()))::bigint),
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

async function payPending(
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

/**
 * Payment failed (or never started): the order is 'failed'; stock it had taken is given back.
 * `stripeSaysNotPaid`: the caller has Stripe's own word that the PaymentIntent did not succeed (a
 * synchronous decline, or the webhook having asked). Without it a paid order stays paid, and the
 * outcome 'paid' tells the caller to ask Stripe first: money and status never disagree.
 */
export async function settleFailed(
  deps: Pick<SettleDeps, 'db' | 'redis' | 'redisBatch'>,
  orderId: string,
  fields: FailureFields & { failureCode: string },
  event?: PaymentEvent,
  stripeSaysNotPaid = false,
): Promise<FailedOutcome> {
  const row = await deps.db.transaction(async (tx) => {
    const moved = await toFailed(tx, orderId, fields, event, stripeSaysNotPaid);
    if (moved.moved && moved.previous === 'paid') await giveBackStock(tx, unrefunded(moved.lines));
    return moved;
  });
  if (!row.moved) return { kind: row.paid ? 'paid' : 'unchanged' };
  const givenBack = row.previous === 'paid' ? unrefunded(row.lines) : [];
  const deltas = row.lines.map((l) => ({
    productId: l.productId,
    quantity: givenBack.find((g) => g.productId === l.productId)?.quantity ?? 0,
  }));
  await settleHold(deps.redis, orderId, deltas, deps.redisBatch);
  return { kind: 'failed' };
}

function unrefunded(lines: readonly OrderLine[]): LineQuantity[] {
  return lines
    .map((l) => ({ productId: l.productId, quantity: l.quantity - l.refundedQuantity }))
    .filter((l) => l.quantity > 0);
}

/**
 * The card was charged but the stock is gone (the hold expired and others bought it): the order
 * fails and the whole amount is refunded. The refund row is written in the same statement that fails
 * the order, and its id is Stripe's idempotency key, so a retry (webhook redelivery, client retry)
 * completes it and never refunds twice. The statement re-checks the order's status on the row it
 * locks: an order another writer paid meanwhile is left paid (false), and nothing is refunded.
 */
async function failAfterPayment(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  orderId: string,
  paymentIntentId: string,
  productId: string,
  lines: readonly LineQuantity[],
  event: PaymentEvent | undefined,
): Promise<boolean> {
  const { rows } = await deps.db.query<{ id: string }>(
    `WITH failed AS (
       UPDATE orders o SET status = 'failed', failure_code = '${OUT_OF_STOCK_AFTER_PAYMENT}', failure_product_id = $5,
              payment_intent_id = COALESCE(o.payment_intent_id, $2),
              last_event_created = GREATEST(o.last_event_created, COALESCE($4::bigint, floor(extract(epoch FROM now()))::bigint)),
              locked_until = NULL, updated_at = now()
        WHERE o.id = $1 AND o.status IN ('pending', 'failed') AND o.failure_code IS DISTINCT FROM '${OUT_OF_STOCK_AFTER_PAYMENT}'
        RETURNING o.id, o.amount_cents
     )
     INSERT INTO refunds (id, order_id, amount_cents, reason, status)
     SELECT $3, id, amount_cents, '${OUT_OF_STOCK_AFTER_PAYMENT}', 'pending' FROM failed
     RETURNING id`,
    [orderId, paymentIntentId, randomUUID(), event?.created ?? null, productId],
  );
  if (!rows[0]) return false;
  await release(
    deps.redis,
    orderId,
    lines.map((l) => l.productId),
  );
  await completeOutOfStockRefund(deps, orderId);
  return true;
}

/**
 * Sends the pending out-of-stock refund of an order to Stripe and records Stripe's answer. Stripe
 * unreachable: PaymentProviderError (503 to the caller; the refund stays pending for the retry).
 */
export async function completeOutOfStockRefund(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  orderId: string,
): Promise<void> {
  for (const refund of await pendingRefunds(deps.db, { orderId, reason: OUT_OF_STOCK_AFTER_PAYMENT }))
    await sendRefund(deps, refund);
}
