import type { Deps } from '../deps';
import { release } from '../inventory/reservations';
import { type Cause, recordEvent } from './history';
import { lockOrder } from './order-store';

/**
 * A pending order ends canceled: its PaymentIntent is canceled at Stripe (or never existed), so no
 * money was taken and no stock was (a pending order only holds it, in Redis). Shared by the cancel
 * route, the scheduler and the payment_intent.canceled webhook.
 */
export interface CancelPendingInput {
  orderId: string;
  /** Stripe's cancellation reason, or ours (`abandoned`). */
  reason: string;
  cause: Cause;
  /** The Stripe event's `created`, when a webhook cancels: an older event never moves the order back. */
  eventCreated?: number;
}

export type CancelPendingOutcome = { kind: 'canceled' } | { kind: 'unchanged'; status: string | null };

/**
 * Under the order's lock (then the read: the locking rule), a `pending` order becomes `canceled`, its
 * history and outbox rows in the same transaction; then its hold leaves Redis at once. Any other
 * status (or an event older than the last applied) changes nothing and answers what the status is.
 */
export async function cancelPending(
  deps: Pick<Deps, 'db' | 'redis'>,
  input: CancelPendingInput,
): Promise<CancelPendingOutcome> {
  const done = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, input.orderId);
    if (!order) return { kind: 'unchanged' as const, status: null, productIds: [] };
    const older =
      input.eventCreated !== undefined &&
      order.lastEventCreated !== null &&
      order.lastEventCreated > input.eventCreated;
    if (order.status !== 'pending' || order.failureCode !== null || older)
      return { kind: 'unchanged' as const, status: order.status, productIds: [] };
    await tx.query(
      `UPDATE orders SET status = 'canceled', cancel_reason = $2, locked_until = NULL, updated_at = now(),
              last_event_created = GREATEST(last_event_created, $3::bigint)
        WHERE id = $1`,
      [input.orderId, input.reason, input.eventCreated ?? null],
    );
    const data = { reason: input.reason, amountCents: order.amountCents, currency: order.currency };
    await recordEvent(tx, {
      orderId: input.orderId,
      type: 'canceled',
      cause: input.cause,
      data,
      publish: { topic: 'order.canceled', payload: { ...data, refundedCents: 0 } },
    });
    return { kind: 'canceled' as const, status: 'canceled', productIds: order.lines.map((l) => l.productId) };
  });
  if (done.kind === 'unchanged') return { kind: 'unchanged', status: done.status };
  await release(deps.redis, input.orderId, done.productIds);
  return { kind: 'canceled' };
}
