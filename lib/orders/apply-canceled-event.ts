import type Stripe from 'stripe';
import type { Deps } from '../deps';
import { cancelPending } from './cancel-pending';
import type { Order } from './order-store';

/**
 * payment_intent.canceled: the PaymentIntent can no longer take money, so a `pending` order ends
 * `canceled` with its hold released at once (cancelPending). Any other status is left as it is: a
 * paid order's money is already captured, a failed one has nothing to undo. An event older than the
 * last one applied to the order changes nothing.
 */
export async function applyCanceledEvent(
  deps: Pick<Deps, 'db' | 'redis'>,
  event: Stripe.Event,
  intent: Stripe.PaymentIntent,
  order: Order,
): Promise<{ orderId: string; result: string }> {
  const outcome = await cancelPending(deps, {
    orderId: order.id,
    reason: intent.cancellation_reason ?? 'canceled_at_stripe',
    cause: { source: 'webhook', stripeEventId: event.id },
    eventCreated: event.created,
  });
  return { orderId: order.id, result: outcome.kind };
}
