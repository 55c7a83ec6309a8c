import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import type { Cause } from './history';
import { lockOrder } from './order-store';
import { recordRefund } from './refund-order';
import { sendPendingRefunds } from './send-refund';

/** Our reason for the refund of a payment that succeeded for an order already canceled. */
export const CANCELED_ORDER_PAYMENT = 'order_canceled';

/**
 * A payment succeeded for an order already canceled: canceled while its PaymentIntent was still
 * invisible to Stripe's search (an earlier create-order attempt whose answer was lost), so nothing at
 * Stripe was canceled, and the customer paid after all. The order stays canceled (its hold is gone,
 * its stock was never taken) and the whole payment is refunded, once: one refund row (money only,
 * no items) for the money no refund is returning yet, recorded under the order's lock, sent with its own
 * idempotency key. Money and status never disagree. False: the order is not canceled.
 */
export async function refundPaymentOfCanceledOrder(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  o: { orderId: string; paymentIntentId: string; cause: Cause },
): Promise<boolean> {
  const canceled = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, o.orderId);
    if (order?.status !== 'canceled') return false;
    if (order.paymentIntentId === null) {
      await tx.query('UPDATE orders SET payment_intent_id = $2, updated_at = now() WHERE id = $1', [
        o.orderId,
        o.paymentIntentId,
      ]);
    } else if (order.paymentIntentId !== o.paymentIntentId) {
      return false; // another PaymentIntent: not this order's payment
    }
    // Only money nobody is giving back yet: an order canceled as a paid one has its refunds already,
    // and an earlier delivery of this event recorded this one.
    const { rows } = await tx.query<{ returning: string }>(
      `SELECT COALESCE(sum(amount_cents), 0) AS returning FROM refunds
        WHERE order_id = $1 AND status IN ('pending', 'succeeded')`,
      [o.orderId],
    );
    const owed = order.amountCents - Number(rows[0]?.returning ?? 0);
    if (owed > 0) {
      await recordRefund(tx, {
        id: randomUUID(),
        orderId: o.orderId,
        reason: CANCELED_ORDER_PAYMENT,
        lines: [],
        amountCents: owed,
        source: o.cause.source,
        cause: o.cause,
      });
    }
    return true;
  });
  if (!canceled) return false;
  await sendPendingRefunds(deps, { orderId: o.orderId, reason: CANCELED_ORDER_PAYMENT }, o.cause);
  return true;
}
