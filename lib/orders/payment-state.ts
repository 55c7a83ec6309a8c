import type { Db } from '../db';
import type { Deps } from '../deps';
import type { Later } from '../idempotency/port';
import { type LineQuantity, settleHold } from '../inventory/reservations';
import { giveBackStock } from '../inventory/stock';
import type { Cause } from './history';
import {
  type FailureFields,
  markFailed,
  OUT_OF_STOCK_AFTER_PAYMENT,
  orderPaid,
  payPending,
} from './order-payment-store';
import { lockOrder, type OrderLine, type OrderStatus } from './order-store';
import { failAfterPayment } from './out-of-stock';

export { type FailureFields, OUT_OF_STOCK_AFTER_PAYMENT };

/**
 * The order's payment state machine, shared by create-order (synchronous answer from Stripe) and
 * the webhook (asynchronous events). Stock moves with the status, under the order's row lock:
 * entering 'paid' takes it (guarded), leaving 'paid' gives it back, so each happens exactly once.
 */

/** A Stripe event's `created` (Unix seconds): an order never moves back to an older event's status. */
export interface PaymentEvent {
  created: number;
}

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
  cause: Cause,
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
  const stockGivenBack = order.status === 'paid' ? unrefunded(order.lines) : [];
  await markFailed(tx, orderId, fields, event?.created ?? null, { cause, previous: order.status, stockGivenBack });
  return { moved: true, previous: order.status, lines: order.lines };
}

/** `later`: leave the Redis step for the request's end, sent with its stored answer (see idempotent()). */
export type SettleDeps = Pick<Deps, 'db' | 'redis' | 'payments'> & { later?: Later };

/** The order's hold dropped and the mirrors moved: now, or with the request's answer. */
function settle(
  deps: Pick<SettleDeps, 'redis' | 'later'>,
  orderId: string,
  mirrorDeltas: readonly LineQuantity[],
): Promise<void> {
  if (!deps.later) return settleHold(deps.redis, orderId, mirrorDeltas);
  deps.later.settleHold(orderId, mirrorDeltas);
  return Promise.resolve();
}

/**
 * Payment succeeded: the order enters 'paid' and takes its stock once, guarded, all lines or none;
 * then its hold leaves Redis as its stock leaves the mirror. `cause` (who: the API, the webhook and
 * its event, the scheduler, an operator) goes into the history row written with the change.
 *
 * `knownLines`: the caller that just placed the order knows its lines, and the order is usually still
 * pending: one statement pays it (payPending). Any other case (a webhook, an order that moved meanwhile,
 * stock that ran short) goes through the order_paid function, which reads the order and decides.
 */
export async function settlePaid(
  deps: SettleDeps,
  orderId: string,
  paymentIntentId: string,
  cause: Cause,
  event?: PaymentEvent,
  knownLines?: readonly LineQuantity[],
): Promise<PaidOutcome> {
  if (knownLines && !event && (await payPending(deps.db, orderId, paymentIntentId, knownLines, cause))) {
    await settle(
      deps,
      orderId,
      knownLines.map((l) => ({ productId: l.productId, quantity: -l.quantity })),
    );
    return { kind: 'paid' };
  }
  const row = await orderPaid(deps.db, orderId, paymentIntentId, event?.created ?? null, cause);
  const lines = row?.lines ?? [];
  switch (row?.outcome) {
    case 'paid':
      await settle(
        deps,
        orderId,
        lines.map((l) => ({ productId: l.productId, quantity: row.previous === 'paid' ? 0 : -l.quantity })),
      );
      return { kind: 'paid' };
    case 'out_of_stock':
      {
        const productId = row.short_product ?? '';
        const eventCreated = event?.created ?? null;
        if (await failAfterPayment(deps, { orderId, paymentIntentId, productId, lines, eventCreated, cause })) {
          return { kind: 'out_of_stock', productId };
        }
      }
      // Another writer paid (or settled) the order between order_paid's answer and our lock: decide again.
      return settlePaid(deps, orderId, paymentIntentId, cause, event);
    default:
      return { kind: 'unchanged' };
  }
}

/**
 * Payment failed (or never started): the order is 'failed'; stock it had taken is given back.
 * `stripeSaysNotPaid`: the caller has Stripe's own word that the PaymentIntent did not succeed (a
 * synchronous decline, or the webhook having asked). Without it a paid order stays paid, and the
 * outcome 'paid' tells the caller to ask Stripe first: money and status never disagree.
 */
export async function settleFailed(
  deps: Pick<SettleDeps, 'db' | 'redis' | 'later'>,
  orderId: string,
  fields: FailureFields & { failureCode: string },
  cause: Cause,
  event?: PaymentEvent,
  stripeSaysNotPaid = false,
): Promise<FailedOutcome> {
  const row = await deps.db.transaction(async (tx) => {
    const moved = await toFailed(tx, orderId, fields, cause, event, stripeSaysNotPaid);
    if (moved.moved && moved.previous === 'paid') await giveBackStock(tx, unrefunded(moved.lines));
    return moved;
  });
  if (!row.moved) return { kind: row.paid ? 'paid' : 'unchanged' };
  const givenBack = row.previous === 'paid' ? unrefunded(row.lines) : [];
  const deltas = row.lines.map((l) => ({
    productId: l.productId,
    quantity: givenBack.find((g) => g.productId === l.productId)?.quantity ?? 0,
  }));
  await settle(deps, orderId, deltas);
  return { kind: 'failed' };
}

function unrefunded(lines: readonly OrderLine[]): LineQuantity[] {
  return (
    lines
      // Not what refunds hold (pending ones give their units back when they succeed) nor what they gave
      // back already (a refund that succeeded and then failed at Stripe keeps its units restocked).
      .map((l) => ({
        productId: l.productId,
        quantity: l.quantity - Math.max(l.refundedQuantity, l.restockedQuantity),
      }))
      .filter((l) => l.quantity > 0)
  );
}
