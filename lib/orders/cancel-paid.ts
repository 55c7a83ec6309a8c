import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import { RefundRejectedError } from '../errors';
import type { Cause } from './history';
import { lockOrder, type OrderStatus } from './order-store';
import { recordRefund, refundAmount } from './refund-order';
import { cancelState, type RefundLine, refundRow, refundTotals, requestCancel } from './refund-store';
import { sendPendingRefunds } from './send-refund';

/**
 * cancelPaidOrder(deps, orderId, { reason, cause }): a paid order is refunded of everything not yet
 * refunded and ends 'canceled' (the cancel route, POST /orders/{orderId}/cancel, for a paid order).
 *
 * Result (CancelPaidOutcome):
 * - `{ kind: 'canceled', refundId, refundedCents }`: Stripe confirmed; the order is 'canceled' now
 *   (history 'canceled', outbox 'order.canceled' with refundedCents). refundId: the cancel's own
 *   refund (null when refunds recorded earlier already covered the money).
 * - `{ kind: 'cancel_pending', refundId }`: recorded and accepted by Stripe, which has not finished
 *   the refund (a refund `pending` at Stripe, or one recorded earlier): the order stays 'paid' with
 *   cancel_requested_at set and turns 'canceled' when Stripe's webhook confirms.
 * - `{ kind: 'not_cancelable', status }`: the order is not 'paid' (answer 409 order_not_cancelable);
 *   nothing changed.
 * - `{ kind: 'not_found' }`: no such order (404 order_not_found).
 * Thrown: RefundRejectedError (409 refund_rejected): Stripe refused a refund of the cancel for good;
 * that refund is failed, cancel_requested_at cleared, the order stays 'paid' with its money owed.
 * PaymentProviderUnavailableError (503): Stripe unreachable; the refund stays pending and
 * cancel_requested_at stays set, so a resend (the next request on the order, the scheduler, or this
 * call again) completes the cancel.
 *
 * One refund row for the rest: all unrefunded units, and the money left (less than their price if
 * refunds made in the Stripe dashboard took some). An order whose money is all refunded or asked
 * for already (refunds pending) gets no new row: the cancel waits for those.
 */
export type CancelPaidOutcome =
  | { kind: 'canceled'; refundId: string | null; refundedCents: number }
  | { kind: 'cancel_pending'; refundId: string | null }
  | { kind: 'not_cancelable'; status: OrderStatus }
  | { kind: 'not_found' };

export async function cancelPaidOrder(
  deps: Pick<Deps, 'db' | 'redis' | 'payments'>,
  orderId: string,
  o: { reason?: string | null; cause: Cause },
): Promise<CancelPaidOutcome> {
  const recorded = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) return { kind: 'not_found' as const };
    if (order.status !== 'paid') return { kind: 'not_cancelable' as const, status: order.status };
    const lines: RefundLine[] = order.lines
      .filter((l) => l.quantity > l.refundedQuantity)
      .map((l) => {
        const quantity = l.quantity - l.refundedQuantity;
        return { productId: l.productId, quantity, amountCents: quantity * l.unitPriceCents };
      });
    const { refundableCents } = await refundTotals(tx, orderId);
    let refundId: string | null = null;
    if (refundableCents > 0) {
      refundId = randomUUID();
      await recordRefund(tx, {
        id: refundId,
        orderId,
        reason: o.reason ?? null,
        lines,
        amountCents: refundAmount(orderId, lines, refundableCents, true),
        source: o.cause.source,
        cause: o.cause,
      });
    }
    await requestCancel(tx, orderId, o.reason ?? null);
    return { kind: 'recorded' as const, refundId };
  });
  if (recorded.kind !== 'recorded') return recorded;

  // Every refund Stripe has not acknowledged (this one, and any an outage left): all must succeed.
  let refused: { refundId: string; code: string; message: string } | null = null;
  for (const { refund, sent } of await sendPendingRefunds(deps, { orderId }, o.cause)) {
    if (sent.kind === 'failed') refused ??= { refundId: refund.id, code: sent.code, message: sent.message };
  }
  const after = await cancelState(deps.db, orderId);
  if (after.status === 'canceled')
    return { kind: 'canceled', refundId: recorded.refundId, refundedCents: after.refundedCents };
  if (after.cancelRequested && !refused) return { kind: 'cancel_pending', refundId: recorded.refundId };
  // Given up: a refund was refused (here, or reported failed by a webhook meanwhile).
  const own = recorded.refundId ? await refundRow(deps.db, recorded.refundId) : null;
  throw new RefundRejectedError(
    orderId,
    refused?.refundId ?? own?.id ?? '',
    refused?.code ?? own?.failureReason ?? 'unknown',
    refused?.message ?? 'a refund of the cancel did not go through',
  );
}
