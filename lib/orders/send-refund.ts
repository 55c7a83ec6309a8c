import type { Db } from '../db';
import type { Deps } from '../deps';
import { PaymentProviderUnavailableError } from '../errors';
import { type LineQuantity, settleHold } from '../inventory/reservations';
import { giveBackStock } from '../inventory/stock';
import { PaymentProviderError } from '../payments/payments';
import { type Cause, recordEvent } from './history';
import { lockOrderRow } from './order-store';
import {
  markOrderRefundedIfDone,
  noteStripeRefund,
  type PendingRefund,
  pendingRefunds,
  publish,
  type RefundStatus,
  refundRow,
  refundTotals,
  reopenOrder,
  restockAll,
  restockSucceeded,
  setRefundStatus,
  uncountRefund,
} from './refund-store';

type SendDeps = Pick<Deps, 'db' | 'redis' | 'payments'>;

/** The reasons Stripe's refunds API accepts; our own (out_of_stock_after_payment) go in metadata. */
const STRIPE_REASONS = new Set(['requested_by_customer', 'duplicate', 'fraudulent']);

/** `pending`: Stripe has the refund but has not finished it; its webhook says how it ends. */
export type RefundSent =
  | { kind: 'succeeded' }
  | { kind: 'pending' }
  | { kind: 'failed'; code: string; message: string };

/**
 * Sends every refund of an order still waiting for Stripe's answer (`reason`: only those), oldest
 * first, each with its own idempotency key; returns what Stripe said to each. Stripe unreachable
 * throws (503) and leaves the rest pending for the next try.
 */
export async function sendPendingRefunds(
  deps: SendDeps,
  where: { orderId: string; reason?: string },
  cause?: Cause,
): Promise<{ refund: PendingRefund; sent: RefundSent }[]> {
  const sent: { refund: PendingRefund; sent: RefundSent }[] = [];
  for (const refund of await pendingRefunds(deps.db, where))
    sent.push({ refund, sent: await sendRefund(deps, refund, cause) });
  return sent;
}

/**
 * Sends a recorded pending refund to Stripe (idempotency key from our refund row, so a retry never
 * refunds twice) and records Stripe's answer under the order's lock (recordRefundStatus):
 * - Stripe has it: the row follows Stripe's status (succeeded gives stock back once; pending waits
 *   for the webhook, its Stripe id kept so it is not sent again).
 * - Stripe refuses it for good (4xx): first asked whether it already holds a refund of ours for this
 *   row (an earlier attempt whose answer we lost, its idempotency key since expired): then that is
 *   the refund. Otherwise the pending row turns failed with Stripe's code and stops counting.
 * - Stripe unreachable: PaymentProviderUnavailableError is thrown, the row stays pending; a retry resends it.
 * `cause`: who sends it now (defaults to whoever recorded the refund).
 */
export async function sendRefund(deps: SendDeps, refund: PendingRefund, cause?: Cause): Promise<RefundSent> {
  const by = cause ?? { source: refund.source === 'stripe_dashboard' ? 'webhook' : refund.source };
  const reason =
    refund.reason && STRIPE_REASONS.has(refund.reason) ? (refund.reason as 'requested_by_customer') : undefined;
  const { outcome, stripeRefund } = await askStripe(deps, refund, reason).catch((error: unknown) => {
    if (error instanceof PaymentProviderError)
      throw new PaymentProviderUnavailableError({ orderId: refund.orderId, refundId: refund.id });
    throw error;
  });
  const rejected = outcome.kind === 'rejected' ? outcome : null;
  const word: StripeWord = stripeRefund
    ? { status: refundStatusOf(stripeRefund.status), stripeRefundId: stripeRefund.refundId }
    : // A refused request is not a Stripe refund that failed: it only ends a refund still pending.
      { status: 'failed', stripeRefundId: null, failureReason: rejected?.code, onlyFromPending: true };
  const moved = await deps.db.transaction(async (tx) => {
    await lockOrderRow(tx, refund.orderId);
    return recordRefundStatus(tx, refund.id, word, by);
  });
  if (moved.restocked.length > 0) await settleHold(deps.redis, refund.orderId, moved.restocked);
  // The row's status now is the answer, whoever set it (another request, a webhook meanwhile).
  if (moved.status === 'succeeded') return { kind: 'succeeded' };
  if (moved.status === 'pending') return { kind: 'pending' };
  return {
    kind: 'failed',
    code: moved.failureReason ?? rejected?.code ?? 'unknown',
    message: rejected?.message ?? `the refund is ${moved.status}`,
  };
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

/** Stripe's refund statuses in ours: `requires_action` (and anything new) is still pending. */
export function refundStatusOf(stripeStatus: string | null | undefined): RefundStatus {
  return stripeStatus === 'succeeded' || stripeStatus === 'failed' || stripeStatus === 'canceled'
    ? stripeStatus
    : 'pending';
}

/** What Stripe says of one refund of ours: its answer to our request, or a webhook's refund object. */
export interface StripeWord {
  status: RefundStatus;
  stripeRefundId: string | null;
  failureReason?: string | null;
  /** `created` of the webhook event that said it. */
  eventCreated?: number | null;
  /** Only a pending refund may move (a refused request says nothing of a refund Stripe made). */
  onlyFromPending?: boolean;
}

/**
 * Whether Stripe's word may move a refund: statuses only go forward. Pending may become anything;
 * succeeded only failed or canceled (Stripe reports a succeeded refund failing later, e.g. a closed
 * card); failed and canceled are final. So an older event never undoes a newer state, in whatever
 * order events arrive.
 */
function mayMove(from: RefundStatus, to: RefundStatus): boolean {
  if (from === 'pending') return to !== 'pending';
  return from === 'succeeded' && (to === 'failed' || to === 'canceled');
}

export interface RefundMoved {
  status: RefundStatus;
  failureReason: string | null;
  /** Stock given back in this transaction: the caller moves the Redis mirrors once it has committed. */
  restocked: LineQuantity[];
}

/**
 * Records Stripe's word on refund `refundId`, in the caller's transaction, under the order's lock
 * (lockOrderRow first: everything here is read after it). With the change, its history and events:
 * - succeeded: the stock the order's succeeded refunds have not given back yet comes back
 *   (restockSucceeded: never twice), 'refund_succeeded'; an order whose money is all back ends
 *   'refunded' ('order.refunded') or, if a cancel waits for it, 'canceled' ('order.canceled').
 * - failed / canceled: the money is owed again: the refund's units count as unrefunded, an order
 *   that ended by its refunds is 'paid' again and a waiting cancel is given up; 'refund_failed' and
 *   'refund.failed'. Stock given back stays given back.
 */
export async function recordRefundStatus(tx: Db, refundId: string, word: StripeWord, cause: Cause) {
  const row = await refundRow(tx, refundId);
  if (!row) throw new Error(`refund ${refundId} vanished`);
  const unchanged: RefundMoved = { status: row.status, failureReason: row.failureReason, restocked: [] };
  const to = word.status;
  const eventCreated = word.eventCreated ?? null;
  if (!mayMove(row.status, to) || (word.onlyFromPending && row.status !== 'pending')) {
    await noteStripeRefund(tx, refundId, { stripeRefundId: word.stripeRefundId, eventCreated });
    return unchanged;
  }
  const failureReason =
    to === 'succeeded' ? null : (word.failureReason ?? (to === 'canceled' ? 'canceled' : 'unknown'));
  const stripeRefundId = word.stripeRefundId ?? row.stripeRefundId;
  if (!(await setRefundStatus(tx, refundId, row.status, to, { stripeRefundId, failureReason, eventCreated })))
    return unchanged;
  const refund = { refundId, stripeRefundId, amountCents: row.amountCents };

  if (to === 'succeeded') {
    const restocked = await restockSucceeded(tx, row.orderId);
    const ended = await markOrderRefundedIfDone(tx, row.orderId);
    // Canceled: every unit comes back, those whose money came back with no items named too.
    if (ended?.status === 'canceled') restocked.push(...(await restockAll(tx, row.orderId)));
    const givenBack = merged(restocked);
    await giveBackStock(tx, givenBack);
    const totals = await refundTotals(tx, row.orderId);
    const money = { refundedCents: totals.refundedCents, amountCents: totals.amountCents, currency: totals.currency };
    await recordEvent(tx, {
      orderId: row.orderId,
      type: 'refund_succeeded',
      cause,
      data: { ...refund, currency: totals.currency, restocked, ...(ended ? { orderStatus: ended.status } : {}) },
      ...(ended?.status === 'refunded' ? { publish: { topic: 'order.refunded', payload: money } } : {}),
    });
    if (ended?.status === 'canceled') await recordCanceled(tx, row.orderId, cause, ended.cancelReason, money);
    return { status: to, failureReason, restocked: givenBack };
  }

  // mayMove let only 'pending' or 'succeeded' get here: the refund stops counting.
  await uncountRefund(tx, refundId);
  const reopened = await reopenOrder(tx, row.orderId);
  // A refund of ours refused while others (a dashboard refund) returned the rest: the order ends now.
  const ended = await markOrderRefundedIfDone(tx, row.orderId);
  const totals = await refundTotals(tx, row.orderId);
  const money = { refundedCents: totals.refundedCents, amountCents: totals.amountCents, currency: totals.currency };
  await recordEvent(tx, {
    orderId: row.orderId,
    type: 'refund_failed',
    cause,
    data: {
      ...refund,
      status: to,
      failureReason,
      previousStatus: row.status,
      ...(reopened && reopened !== 'paid' ? { orderStatus: 'paid', previousOrderStatus: reopened } : {}),
      ...(ended ? { orderStatus: ended.status } : {}),
    },
    publish: {
      topic: 'refund.failed',
      payload: { ...refund, failureReason, currency: totals.currency, refundedCents: totals.refundedCents },
    },
  });
  if (ended?.status === 'refunded') await publish(tx, row.orderId, 'order.refunded', money);
  const restocked = ended?.status === 'canceled' ? await restockAll(tx, row.orderId) : [];
  await giveBackStock(tx, restocked);
  if (ended?.status === 'canceled') await recordCanceled(tx, row.orderId, cause, ended.cancelReason, money);
  return { status: to, failureReason, restocked };
}

/** One entry per product, quantities added, in product order (the stock rows' lock order). */
function merged(lines: readonly LineQuantity[]): LineQuantity[] {
  const byProduct = new Map<string, number>();
  for (const l of lines) byProduct.set(l.productId, (byProduct.get(l.productId) ?? 0) + l.quantity);
  return [...byProduct]
    .map(([productId, quantity]) => ({ productId, quantity }))
    .sort((a, b) => a.productId.localeCompare(b.productId));
}

/** A paid order's cancel completed: its last refund returned the money. */
function recordCanceled(
  tx: Db,
  orderId: string,
  cause: Cause,
  reason: string | null,
  money: { refundedCents: number; amountCents: number; currency: string },
): Promise<void> {
  const data = { reason, ...money };
  return recordEvent(tx, {
    orderId,
    type: 'canceled',
    cause,
    data,
    publish: { topic: 'order.canceled', payload: data },
  });
}
