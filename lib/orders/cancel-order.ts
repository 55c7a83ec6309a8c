import type { Deps } from '../deps';
import { OrderNotCancelableError, OrderNotFoundError } from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent } from '../idempotency/idempotent';
import type { IdempotentResult } from '../idempotency/port';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { keys } from '../keys';
import type { CancellationReason, Payments } from '../payments/payments';
import { UUID } from '../schemas';
import { cancelPaidOrder } from './cancel-paid';
import { cancelPending } from './cancel-pending';
import type { CancelRequest } from './cancel-request';
import type { Cause } from './history';
import { claimOrder, findOrder, leavePending, type Order } from './order-store';
import { orderView } from './order-view';
import { settlePaid } from './payment-state';

type CancelDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'>;

const OPERATOR: Cause = { source: 'operator' };

/**
 * POST /orders/{orderId}/cancel. A pending order is canceled at Stripe first (nothing locked while
 * Stripe is asked), then in PostgreSQL; a paid one is refunded of everything not yet refunded and
 * then canceled (cancelPaidOrder). With an Idempotency-Key the answer is stored as a refund's is.
 */
export async function cancelOrder(
  deps: CancelDeps,
  orderIdAsSent: string,
  request: CancelRequest,
  idempotencyKey: string | undefined,
): Promise<IdempotentResult> {
  if (!UUID.test(orderIdAsSent)) throw new OrderNotFoundError(orderIdAsSent);
  const orderId = orderIdAsSent.toLowerCase();
  // An operator who gives no reason cancels for the customer (the usual case); Stripe takes no "other".
  const reason = request.reason ?? 'requested_by_customer';
  if (idempotencyKey === undefined) return cancel(deps, orderId, reason);
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  return idempotent(
    new RedisIdempotencyStore(deps.redis),
    keys.cancelIdempotency(orderId, idempotencyKey),
    fingerprint(request),
    ttl,
    () => cancel(deps, orderId, reason),
  );
}

type OperatorReason = Exclude<CancellationReason, 'abandoned'>;

async function cancel(deps: CancelDeps, orderId: string, reason: OperatorReason): Promise<IdempotentResult> {
  // The lease first: while we hold it no create-order request (a client's retry) can charge this
  // order, so "Stripe has no PaymentIntent for it" stays true until the order is canceled. It is
  // taken only on a pending order nobody else is working on; the read after it sees the order as is.
  const leased = await claimOrder(deps.db, orderId, deps.config.requestLockSeconds);
  const order = await findOrder(deps.db, orderId);
  if (!order) throw new OrderNotFoundError(orderId);
  if (order.status === 'pending') {
    // Pending now, so pending when the claim failed too (no order goes back to pending): another
    // request holds it (create-order charging it, or the scheduler). Its answer decides; retry after.
    if (!leased)
      throw new OrderNotCancelableError(
        orderId,
        order.status,
        `order ${orderId} is being worked on (a payment attempt in progress); retry when it has finished`,
        deps.config.requestLockSeconds,
      );
    return cancelLeasedPending(deps, order, reason).catch(async (error: unknown) => {
      // Whatever stopped us (Stripe unreachable: 503), the order is left as it was, free at once.
      await leavePending(deps.db, orderId, null, null).catch(() => undefined);
      throw error;
    });
  }
  return cancelSettled(deps, order, reason);
}

/** A pending order this request holds the lease on: Stripe first, then PostgreSQL. */
async function cancelLeasedPending(deps: CancelDeps, order: Order, reason: OperatorReason): Promise<IdempotentResult> {
  const atStripe = await cancelAtStripe(deps.payments, order.id, order.paymentIntentId, reason);
  switch (atStripe.kind) {
    case 'canceled': {
      const done = await cancelPending(deps, { orderId: order.id, reason, cause: OPERATOR });
      if (done.kind === 'canceled' || done.status === 'canceled')
        return answer(orderView(order, 'canceled', order.paymentIntentId ?? atStripe.paymentIntentId));
      return decideAgain(deps, order.id, reason);
    }
    case 'succeeded': {
      // Paid at Stripe before we could cancel: the order is paid as the webhook would pay it, then
      // canceled as a paid order (its money refunded, its stock given back).
      const paid = await settlePaid(deps, order.id, atStripe.paymentIntentId, OPERATOR);
      if (paid.kind === 'out_of_stock')
        throw new OrderNotCancelableError(
          order.id,
          'failed',
          `order ${order.id} was paid but its stock was gone: it failed and its payment is refunded in full`,
        );
      return decideAgain(deps, order.id, reason);
    }
    case 'waiting':
      // Nothing changes (the contract): the lease is let go, and the webhook settles the payment.
      await leavePending(deps.db, order.id, null, null);
      throw new OrderNotCancelableError(
        order.id,
        order.status,
        `order ${order.id} has a payment ${atStripe.status} at Stripe, which cannot be canceled now`,
      );
  }
}

/** Another writer moved the order meanwhile: decide on what it is now. */
async function decideAgain(deps: CancelDeps, orderId: string, reason: OperatorReason): Promise<IdempotentResult> {
  const order = await findOrder(deps.db, orderId);
  if (!order) throw new OrderNotFoundError(orderId);
  if (order.status === 'pending') throw new OrderNotCancelableError(orderId, order.status);
  return cancelSettled(deps, order, reason);
}

/**
 * A paid order is refunded of what is left and canceled (cancelPaidOrder: Stripe refusing the refund
 * throws 409 refund_rejected, Stripe unreachable 503); any other (failed, refunded, canceled) stays.
 */
async function cancelSettled(deps: CancelDeps, order: Order, reason: OperatorReason): Promise<IdempotentResult> {
  // Whether it is paid is decided by cancelPaidOrder under the order's lock, not on `order` (read before it).
  const done = await cancelPaidOrder(deps, order.id, { reason, cause: OPERATOR });
  if (done.kind === 'not_found') throw new OrderNotFoundError(order.id);
  if (done.kind === 'not_cancelable') throw new OrderNotCancelableError(order.id, done.status);
  if (done.kind === 'canceled') return answer(orderView(order, 'canceled'));
  // Stripe took the refund but has not finished it: the order stays paid, cancel requested, and
  // turns canceled when Stripe's webhook confirms the refund.
  return answer(orderView(order, 'paid'), 202);
}

function answer(order: ReturnType<typeof orderView>, statusCode = 200): IdempotentResult {
  return { statusCode, body: { order }, replayed: false };
}

/**
 * What Stripe did with a pending order's payment when asked to cancel it:
 * - `canceled`: canceled now or before, or there never was a PaymentIntent (`paymentIntentId` null);
 * - `succeeded`: the customer paid first;
 * - `waiting`: `processing` (never asked to cancel: the bank is deciding), or another state Stripe
 *   would not cancel from.
 */
export type StripeCancel =
  | { kind: 'canceled'; paymentIntentId: string | null }
  | { kind: 'succeeded'; paymentIntentId: string }
  | { kind: 'waiting'; paymentIntentId: string; status: string };

/**
 * Asks Stripe for the order's PaymentIntent (stored id, else the search on metadata.order_id) and
 * cancels it unless it already succeeded, is canceled, or is processing. Idempotency key from the
 * order id (the adapter's), so every canceller of one order sends the same request. Nothing is
 * locked here; Stripe unreachable throws PaymentProviderError.
 */
export async function cancelAtStripe(
  payments: Payments,
  orderId: string,
  storedPaymentIntentId: string | null,
  reason: CancellationReason,
): Promise<StripeCancel> {
  const found = await payments.findCharge(orderId, storedPaymentIntentId);
  if (!found?.paymentIntentId) return { kind: 'canceled', paymentIntentId: null };
  const paymentIntentId = found.paymentIntentId;
  if (found.kind === 'succeeded') return { kind: 'succeeded', paymentIntentId };
  if (found.kind === 'declined' && found.status === 'canceled') return { kind: 'canceled', paymentIntentId };
  if (found.kind === 'pending' && found.status === 'processing')
    return { kind: 'waiting', paymentIntentId, status: found.status };
  const canceled = await payments.cancel({ orderId, paymentIntentId, reason });
  if (canceled.kind === 'canceled') return { kind: 'canceled', paymentIntentId };
  if (canceled.status === 'succeeded') return { kind: 'succeeded', paymentIntentId };
  return { kind: 'waiting', paymentIntentId, status: canceled.status };
}
