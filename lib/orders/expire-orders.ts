import type { Deps } from '../deps';
import { errorFields } from '../log';
import { cancelAtStripe } from './cancel-order';
import { cancelPending } from './cancel-pending';
import { type AbandonedOrder, claimAbandonedOrder } from './expire-store';
import type { Cause } from './history';
import { leavePending } from './order-store';
import { settlePaid } from './payment-state';
import { pendingRefunds } from './refund-store';
import { sendRefund } from './send-refund';

type ExpireDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config' | 'log'>;

export interface ExpireSummary {
  /** Found paid at Stripe and settled as the webhook would (paid, or failed for stock and refunded). */
  settledPaid: number;
  canceled: number;
  /** Payment still `processing` at Stripe: looked at again by the next run. */
  waiting: number;
  refundsResent: number;
  /** Orders or refunds that could not be finished now (Stripe unreachable, ...): the next run retries. */
  errors: number;
}

export interface ExpireOptions {
  /** At most this many orders, and this many refunds, per run. */
  batchSize?: number;
  /** No new order is taken up after this long, so a run ends well within its Lambda's timeout. */
  budgetMs?: number;
  /** A refund still waiting for Stripe this long after it was recorded had its call fail. */
  refundRetryAfterSeconds?: number;
}

const SCHEDULER: Cause = { source: 'scheduler' };

/**
 * The scheduled function (every minute): every order still `pending` after
 * PENDING_ORDER_TIMEOUT_SECONDS is settled as Stripe says (succeeded -> paid; processing -> wait;
 * anything else or no PaymentIntent -> canceled at Stripe as `abandoned`, then canceled here), and
 * refunds whose call to Stripe failed are sent again. Orders are taken one at a time under a lease
 * (claimAbandonedOrder), so each lease is fresh while Stripe is asked about its order, and two runs
 * at once, or a run and any route, never work on the same order. One order's failure is counted and
 * the run goes on.
 */
export async function expireOrders(deps: ExpireDeps, o: ExpireOptions = {}): Promise<ExpireSummary> {
  const batchSize = o.batchSize ?? 50;
  const deadline = Date.now() + (o.budgetMs ?? 20_000);
  const summary: ExpireSummary = { settledPaid: 0, canceled: 0, waiting: 0, refundsResent: 0, errors: 0 };
  const seen: string[] = [];
  while (seen.length < batchSize && Date.now() < deadline) {
    const order = await claimAbandonedOrder(deps.db, {
      olderThanSeconds: deps.config.pendingOrderTimeoutSeconds,
      leaseSeconds: deps.config.requestLockSeconds,
      skip: seen,
    });
    if (!order) break;
    seen.push(order.id);
    try {
      const outcome = await expireOne(deps, order);
      if (outcome !== 'unchanged') summary[outcome] += 1;
    } catch (error) {
      summary.errors += 1;
      deps.log.error('expire order failed', { orderId: order.id, ...errorFields(error) });
      await leavePending(deps.db, order.id, null, null).catch(() => undefined);
    }
  }
  const refunds = await pendingRefunds(deps.db, {
    olderThanSeconds: o.refundRetryAfterSeconds ?? 60,
    limit: batchSize,
  });
  for (const refund of refunds) {
    try {
      await sendRefund(deps, refund, SCHEDULER);
      summary.refundsResent += 1;
    } catch (error) {
      summary.errors += 1;
      deps.log.error('resend refund failed', { orderId: refund.orderId, refundId: refund.id, ...errorFields(error) });
    }
  }
  return summary;
}

/** One leased order: Stripe first (nothing locked), then PostgreSQL; the lease ends with the change. */
async function expireOne(
  deps: ExpireDeps,
  order: AbandonedOrder,
): Promise<'settledPaid' | 'canceled' | 'waiting' | 'unchanged'> {
  const atStripe = await cancelAtStripe(deps.payments, order.id, order.paymentIntentId, 'abandoned');
  switch (atStripe.kind) {
    case 'succeeded': {
      const paid = await settlePaid(deps, order.id, atStripe.paymentIntentId, SCHEDULER);
      if (paid.kind === 'unchanged') await leavePending(deps.db, order.id, null, null);
      return paid.kind === 'unchanged' ? 'unchanged' : 'settledPaid';
    }
    case 'waiting':
      // The PaymentIntent is kept (the next run retrieves it instead of searching); the lease is let go.
      await leavePending(deps.db, order.id, atStripe.paymentIntentId, null);
      return 'waiting';
    case 'canceled': {
      const done = await cancelPending(deps, { orderId: order.id, reason: 'abandoned', cause: SCHEDULER });
      if (done.kind === 'canceled') return 'canceled';
      await leavePending(deps.db, order.id, null, null);
      return 'unchanged';
    }
  }
}
