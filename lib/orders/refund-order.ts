import { randomUUID } from 'node:crypto';
import type { Db } from '../db';
import type { Deps } from '../deps';
import {
  IdempotencyKeyMismatchError,
  OrderNotFoundError,
  OrderNotRefundableError,
  RefundAmountExceededError,
  RefundQuantityExceededError,
  RefundRejectedError,
} from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent } from '../idempotency/idempotent';
import type { IdempotentResult } from '../idempotency/port';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { keys } from '../keys';
import { UUID } from '../schemas';
import { type Cause, recordEvent } from './history';
import { lockOrder, type Order } from './order-store';
import type { RefundRequest } from './refund-request';
import {
  insertRefund,
  pendingRefunds,
  type RefundLine,
  type RefundSource,
  refundByKey,
  refundTotals,
} from './refund-store';
import { refundWithOrderStatus } from './refund-view-store';
import { sendPendingRefunds, sendRefund } from './send-refund';

type RefundDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'>;

/**
 * POST /orders/{orderId}/refunds. Phases: refund recorded (order row locked, quantities counted, so
 * two refunds at once can never pass what was bought) -> Stripe refund (idempotency key from our
 * refund row) -> stock given back and order status updated (once, when the row turns succeeded).
 * A refund Stripe could not confirm stays pending and is completed by the next refund request on the
 * order, so it is never lost and never sent twice. `cause`: an operator's (the route is IAM-authorized).
 */
export async function refundOrder(
  deps: RefundDeps,
  orderIdAsSent: string,
  request: RefundRequest,
  idempotencyKey: string | undefined,
  cause: Cause = { source: 'operator' },
): Promise<IdempotentResult> {
  if (!UUID.test(orderIdAsSent)) throw new OrderNotFoundError(orderIdAsSent);
  // One order, one spelling: its keys (Redis and refunds.idempotency_key) never depend on the case sent.
  const orderId = orderIdAsSent.toLowerCase();
  if (idempotencyKey === undefined) return refund(deps, orderId, request, null, cause);
  // The durable guard's key (refunds.idempotency_key, a table of refunds only) is scoped by order.
  const key = { key: `${orderId}:${idempotencyKey}`, hash: fingerprint(request) };
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  return idempotent(
    new RedisIdempotencyStore(deps.redis),
    keys.refundIdempotency(orderId, idempotencyKey),
    key.hash,
    ttl,
    () => refund(deps, orderId, request, key, cause),
  );
}

async function refund(
  deps: RefundDeps,
  orderId: string,
  request: RefundRequest,
  idempotency: { key: string; hash: string } | null,
  cause: Cause,
): Promise<IdempotentResult> {
  // Refunds an earlier request recorded but Stripe did not confirm: sent again with their own key (one
  // refused for good no longer blocks this request; an unreachable Stripe throws 503).
  await sendPendingRefunds(deps, { orderId }, cause);
  const recorded = await deps.db.transaction(async (tx) => {
    const order = await lockOrder(tx, orderId);
    if (!order) throw new OrderNotFoundError(orderId);
    if (idempotency) {
      // The durable guard: a refund already recorded under this key (its answer lost with Redis,
      // or a 503 the client retries) is that refund, never a second one.
      const existing = await refundByKey(tx, idempotency.key);
      if (existing && existing.requestHash !== idempotency.hash) throw new IdempotencyKeyMismatchError();
      if (existing) return { id: existing.id, existing: true };
    }
    if (order.status !== 'paid' || !order.paymentIntentId) throw new OrderNotRefundableError(orderId, order.status);
    const lines = refundLines(order, request);
    const { refundableCents } = await refundTotals(tx, orderId);
    const id = randomUUID();
    await recordRefund(tx, {
      id,
      orderId,
      reason: request.reason ?? null,
      lines,
      amountCents: refundAmount(orderId, lines, refundableCents, request.items === undefined),
      source: cause.source,
      idempotencyKey: idempotency?.key ?? null,
      requestHash: idempotency?.hash ?? null,
      cause,
    });
    return { id, existing: false };
  });
  // A new refund is sent now; one recorded earlier under this key was sent by sendPendingRefunds above.
  if (!recorded.existing)
    for (const pending of await pendingRefunds(deps.db, { refundId: recorded.id }))
      await sendRefund(deps, pending, cause);
  const done = await refundWithOrderStatus(deps.db, recorded.id);
  if (!done) throw new Error(`refund ${recorded.id} vanished`);
  if (done.refund.status === 'failed' || done.refund.status === 'canceled') {
    throw new RefundRejectedError(
      orderId,
      done.refund.id,
      done.refund.failureReason ?? 'unknown',
      'the refund was refused by the payment provider',
    );
  }
  return {
    statusCode: 201,
    body: { refund: done.refund, order: { id: orderId, status: done.orderStatus } },
    replayed: recorded.existing,
  };
}

/** The lines to refund: those asked for, or everything not yet refunded. */
export function refundLines(order: Order, request: RefundRequest): RefundLine[] {
  const bought = new Map(order.lines.map((l) => [l.productId, l]));
  const asked =
    request.items ?? order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity - l.refundedQuantity }));
  const lines = asked
    .filter((a) => a.quantity > 0)
    .map(({ productId, quantity }) => {
      const line = bought.get(productId);
      const refundable = line ? line.quantity - line.refundedQuantity : 0;
      if (!line || quantity > refundable) throw new RefundQuantityExceededError(productId, refundable);
      return { productId, quantity, amountCents: quantity * line.unitPriceCents };
    });
  if (lines.length === 0) throw new OrderNotRefundableError(order.id, 'refunded');
  return lines;
}

/**
 * The money a refund of `lines` asks Stripe for: their amount, never more than is left on the order
 * (refunds made in the Stripe dashboard took some). Asked for items: more than is left is refused
 * (422 refund_amount_exceeded), since the items' price can no longer come back in full. "Everything
 * not yet refunded": what is left, with all the units.
 */
export function refundAmount(
  orderId: string,
  lines: readonly RefundLine[],
  refundableCents: number,
  everything: boolean,
): number {
  const asked = lines.reduce((sum, l) => sum + l.amountCents, 0);
  if (asked <= refundableCents) return asked;
  if (everything && refundableCents > 0) return refundableCents;
  throw new RefundAmountExceededError(orderId, asked, refundableCents);
}

/** A refund recorded as pending (its units counted), with its history row, in the caller's transaction. */
export async function recordRefund(
  tx: Db,
  r: {
    id: string;
    orderId: string;
    reason: string | null;
    lines: readonly RefundLine[];
    amountCents: number;
    source: RefundSource;
    stripeRefundId?: string | null;
    idempotencyKey?: string | null;
    requestHash?: string | null;
    cause: Cause;
  },
): Promise<void> {
  await insertRefund(tx, r);
  await recordEvent(tx, {
    orderId: r.orderId,
    type: 'refund_requested',
    cause: r.cause,
    data: {
      refundId: r.id,
      amountCents: r.amountCents,
      reason: r.reason,
      source: r.source,
      items: r.lines,
      ...(r.stripeRefundId ? { stripeRefundId: r.stripeRefundId } : {}),
    },
  });
}
