import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import {
  IdempotencyKeyMismatchError,
  OrderNotFoundError,
  OrderNotRefundableError,
  RefundQuantityExceededError,
  RefundRejectedError,
} from '../errors';
import { fingerprint } from '../idempotency/fingerprint';
import { idempotent } from '../idempotency/idempotent';
import type { IdempotentResult } from '../idempotency/port';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { keys } from '../keys';
import { UUID } from '../schemas';
import { lockOrder, type Order } from './order-store';
import type { RefundRequest } from './refund-request';
import { insertRefund, pendingRefunds, type RefundLine, refundByKey } from './refund-store';
import { refundWithOrderStatus } from './refund-view-store';
import { sendRefund } from './send-refund';

type RefundDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'>;

/**
 * POST /orders/{orderId}/refunds. Phases: refund recorded (order row locked, quantities counted, so
 * two refunds at once can never pass what was bought) -> Stripe refund (idempotency key from our
 * refund row) -> stock given back and order status updated (once, when the row turns succeeded).
 * A refund Stripe could not confirm stays pending and is completed by the next refund request on the
 * order, so it is never lost and never sent twice.
 */
export async function refundOrder(
  deps: RefundDeps,
  orderIdAsSent: string,
  request: RefundRequest,
  idempotencyKey: string | undefined,
): Promise<IdempotentResult> {
  if (!UUID.test(orderIdAsSent)) throw new OrderNotFoundError(orderIdAsSent);
  // One order, one spelling: its keys (Redis and refunds.idempotency_key) never depend on the case sent.
  const orderId = orderIdAsSent.toLowerCase();
  if (idempotencyKey === undefined) return refund(deps, orderId, request, null);
  // The durable guard's key (refunds.idempotency_key, a table of refunds only) is scoped by order.
  const key = { key: `${orderId}:${idempotencyKey}`, hash: fingerprint(request) };
  const ttl = { resultSeconds: deps.config.idempotencyTtlSeconds, lockSeconds: deps.config.requestLockSeconds };
  return idempotent(
    new RedisIdempotencyStore(deps.redis),
    keys.refundIdempotency(orderId, idempotencyKey),
    key.hash,
    ttl,
    () => refund(deps, orderId, request, key),
  );
}

async function refund(
  deps: RefundDeps,
  orderId: string,
  request: RefundRequest,
  idempotency: { key: string; hash: string } | null,
): Promise<IdempotentResult> {
  await completePendingRefunds(deps, orderId);
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
    const id = randomUUID();
    await insertRefund(tx, {
      id,
      orderId,
      reason: request.reason ?? null,
      lines: refundLines(order, request),
      idempotencyKey: idempotency?.key ?? null,
      requestHash: idempotency?.hash ?? null,
    });
    return { id, existing: false };
  });
  // A new refund is sent now; one recorded earlier under this key was sent by completePendingRefunds.
  if (!recorded.existing)
    for (const pending of await pendingRefunds(deps.db, { refundId: recorded.id })) await sendRefund(deps, pending);
  const done = await refundWithOrderStatus(deps.db, recorded.id);
  if (!done) throw new Error(`refund ${recorded.id} vanished`);
  if (done.refund.status === 'failed') {
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
 * Refunds an earlier request recorded but Stripe did not confirm: sent again with their own key. One
 * Stripe refuses for good turns failed and no longer blocks this request; an unreachable Stripe
 * throws (503), and the refund stays pending for the next try.
 */
async function completePendingRefunds(deps: RefundDeps, orderId: string): Promise<void> {
  for (const pending of await pendingRefunds(deps.db, { orderId })) await sendRefund(deps, pending);
}
