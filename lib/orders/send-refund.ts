import type { Deps } from '../deps';
import { PaymentProviderUnavailableError } from '../errors';
import { settleHold } from '../inventory/reservations';
import { giveBackStock } from '../inventory/stock';
import { PaymentProviderError } from '../payments/payments';
import { lockOrderRow } from './order-store';
import { markOrderRefundedIfDone, markRefundFailed, markRefundSucceeded, type PendingRefund } from './refund-store';
import { refundStatus } from './refund-view-store';

type SendDeps = Pick<Deps, 'db' | 'redis' | 'payments'>;

/** The reasons Stripe's refunds API accepts; our own (out_of_stock_after_payment) go in metadata. */
const STRIPE_REASONS = new Set(['requested_by_customer', 'duplicate', 'fraudulent']);

export type RefundSent = { kind: 'succeeded' } | { kind: 'failed'; code: string; message: string };

/**
 * Sends a recorded pending refund to Stripe (idempotency key from our refund row, so a retry never
 * refunds twice) and records Stripe's answer under the order's lock:
 * - Stripe has it: the row turns succeeded once, and only that change gives its stock back.
 * - Stripe refuses it for good (4xx): first asked whether it already holds a refund of ours for this
 *   row (an earlier attempt whose answer we lost, its idempotency key since expired): then that is
 *   the refund. Otherwise the row turns failed with Stripe's code and stops counting as refunded.
 * - Stripe unreachable: PaymentProviderError is thrown, the row stays pending; a retry resends it.
 */
export async function sendRefund(deps: SendDeps, refund: PendingRefund): Promise<RefundSent> {
  const reason =
    refund.reason && STRIPE_REASONS.has(refund.reason) ? (refund.reason as 'requested_by_customer') : undefined;
  const { outcome, stripeRefund } = await askStripe(deps, refund, reason).catch((error: unknown) => {
    if (error instanceof PaymentProviderError)
      throw new PaymentProviderUnavailableError({ orderId: refund.orderId, refundId: refund.id });
    throw error;
  });
  if (!stripeRefund) {
    const rejected = outcome as Extract<typeof outcome, { kind: 'rejected' }>;
    const failed = await deps.db.transaction(async (tx) => {
      await lockOrderRow(tx, refund.orderId);
      return markRefundFailed(tx, refund.id, rejected.code);
    });
    // Not changed: another request settled this row meanwhile, and its answer stands.
    if (failed || (await refundStatus(deps.db, refund.id)) === 'failed')
      return { kind: 'failed', code: rejected.code, message: rejected.message };
    return { kind: 'succeeded' };
  }
  const givenBack = await deps.db.transaction(async (tx) => {
    await lockOrderRow(tx, refund.orderId);
    const done = await markRefundSucceeded(tx, refund.id, stripeRefund.refundId);
    if (!done.changed) return []; // completed by another request already
    await giveBackStock(tx, done.lines);
    await markOrderRefundedIfDone(tx, refund.orderId);
    return done.lines;
  });
  if (givenBack.length > 0) await settleHold(deps.redis, refund.orderId, givenBack);
  return { kind: 'succeeded' };
}

async function askStripe(deps: SendDeps, refund: PendingRefund, reason: 'requested_by_customer' | undefined) {
  const outcome = await deps.payments.refund({
    paymentIntentId: refund.paymentIntentId,
    amountCents: refund.amountCents,
    idempotencyKey: `refund-${refund.id}`,
    ...(reason ? { reason } : {}),
    metadata: {
      order_id: refund.orderId,
      refund_id: refund.id,
      ...(refund.reason && !reason ? { reason: refund.reason } : {}),
    },
  });
  const stripeRefund =
    outcome.kind === 'sent' ? outcome : await deps.payments.findRefund(refund.paymentIntentId, refund.id);
  return { outcome, stripeRefund };
}
