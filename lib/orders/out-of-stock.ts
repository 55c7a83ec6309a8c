import { randomUUID } from 'node:crypto';
import type { Deps } from '../deps';
import { type LineQuantity, release } from '../inventory/reservations';
import type { Cause } from './history';
import { failOutOfStock, OUT_OF_STOCK_AFTER_PAYMENT } from './order-payment-store';
import { sendPendingRefunds } from './send-refund';

type OutOfStockDeps = Pick<Deps, 'db' | 'redis' | 'payments'>;

/**
 * The card was charged but the stock is gone (the hold expired and others bought it), or the order
 * had been refused for stock: the order fails and the whole amount is refunded. The refund row is
 * written in the statement that fails the order, and its id is Stripe's idempotency key, so a retry
 * (webhook redelivery, client retry) completes it and never refunds twice. False: another writer
 * paid or settled the order meanwhile (nothing was done; the caller decides again).
 */
export async function failAfterPayment(
  deps: OutOfStockDeps,
  o: {
    orderId: string;
    paymentIntentId: string;
    productId: string;
    lines: readonly LineQuantity[];
    eventCreated: number | null;
    /** Who settled the payment: the refund row and the history say so. */
    cause: Cause;
  },
): Promise<boolean> {
  const failed = await failOutOfStock(deps.db, {
    orderId: o.orderId,
    paymentIntentId: o.paymentIntentId,
    refundId: randomUUID(),
    eventCreated: o.eventCreated,
    productId: o.productId,
    cause: o.cause,
  });
  if (!failed) return false;
  await release(
    deps.redis,
    o.orderId,
    o.lines.map((l) => l.productId),
  );
  await completeOutOfStockRefund(deps, o.orderId);
  return true;
}

/**
 * Sends the pending out-of-stock refund of an order to Stripe and records Stripe's answer. Stripe
 * unreachable: PaymentProviderUnavailableError (503 to the caller; the refund stays pending).
 */
export async function completeOutOfStockRefund(deps: OutOfStockDeps, orderId: string): Promise<void> {
  await sendPendingRefunds(deps, { orderId, reason: OUT_OF_STOCK_AFTER_PAYMENT });
}
