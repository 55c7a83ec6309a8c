import { isConnectionError } from '../db';
import type { Deps } from '../deps';
import { PaymentProviderUnavailableError } from '../errors';
import type { IdempotentResult } from '../idempotency/port';
import { type FirstHold, reserve } from '../inventory/reservations';
import { type PaymentOutcome, PaymentProviderError } from '../payments/payments';
import { answerFor } from './create-order-answer';
import type { Cause } from './history';
import { findOrder, leavePending, type Order } from './order-store';
import { OUT_OF_STOCK_AFTER_PAYMENT, type SettleDeps, settleFailed, settlePaid } from './payment-state';

/** create-order's later phases, for an order already recorded: hold, charge, settle, answer. */

export type CreateDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'> & Pick<SettleDeps, 'later'>;

/** Every change create-order makes is the storefront's request. */
const API: Cause = { source: 'api' };

/**
 * A recorded order: hold its stock unless the key's script already did (a mirror that was not
 * loaded is loaded by reserve()), then charge.
 */
export async function place(
  deps: CreateDeps,
  order: Order,
  firstHold: FirstHold = { kind: 'not_loaded' },
): Promise<IdempotentResult> {
  const held =
    firstHold.kind === 'held'
      ? { ok: true as const }
      : firstHold.kind === 'short'
        ? { ok: false as const, productId: firstHold.productId }
        : await reserve(deps.redis, deps.db, order.id, order.lines, deps.config.reservationTtlSeconds);
  if (!held.ok) {
    const fields = {
      failureCode: 'insufficient_inventory',
      declineCode: null,
      paymentIntentId: null,
      productId: held.productId,
    };
    await settleFailed(deps, order.id, fields, API);
    return answer({ ...order, status: 'failed', failureCode: fields.failureCode, failureProductId: held.productId });
  }
  return settleOrLetGo(deps, order, await charge(deps, order, () => deps.payments.charge(chargeOf(order))));
}

/**
 * A pending order from an earlier attempt. Stripe is asked first whether that attempt created a
 * PaymentIntent (by stored id, else by metadata.order_id), so a crash between the charge and our
 * commit never leads to a second charge; Stripe's idempotency key (from the order id) backs this up.
 */
export async function resume(deps: CreateDeps, order: Order): Promise<IdempotentResult> {
  const found = await charge(deps, order, () => deps.payments.findCharge(order.id, order.paymentIntentId));
  if (found) return settleOrLetGo(deps, order, found);
  return place(deps, order);
}

async function charge<T extends PaymentOutcome | null>(
  deps: CreateDeps,
  order: Order,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof PaymentProviderError)) throw error;
    // The order stays pending with its hold: the retry with the same key resumes it.
    await leavePending(deps.db, order.id, null, null);
    throw new PaymentProviderUnavailableError({ orderId: order.id });
  }
}

/**
 * settle(), and when PostgreSQL could not serve it (a lock timeout, a dropped connection) the order's
 * lease is let go if PostgreSQL takes that much: the client's retry (503, Retry-After) resumes the
 * order at once (Stripe is asked first) instead of waiting REQUEST_LOCK_SECONDS for the lease.
 */
async function settleOrLetGo(deps: CreateDeps, order: Order, outcome: PaymentOutcome): Promise<IdempotentResult> {
  try {
    return await settle(deps, order, outcome);
  } catch (error) {
    if (isConnectionError(error))
      await leavePending(deps.db, order.id, outcome.paymentIntentId, null).catch(() => undefined);
    throw error;
  }
}

/** Stripe's answer applied to the order, and the order as it then stands answered (answerFor). */
async function settle(deps: CreateDeps, order: Order, outcome: PaymentOutcome): Promise<IdempotentResult> {
  const paymentIntentId = outcome.paymentIntentId;
  switch (outcome.kind) {
    case 'succeeded': {
      const paid = await settlePaid(deps, order.id, outcome.paymentIntentId, API, undefined, order.lines);
      if (paid.kind === 'paid') return answer({ ...order, status: 'paid', paymentIntentId });
      if (paid.kind === 'out_of_stock') {
        const failureCode = OUT_OF_STOCK_AFTER_PAYMENT;
        return answer({ ...order, status: 'failed', failureCode, failureProductId: paid.productId, paymentIntentId });
      }
      // Another writer settled the order first (the webhook found its stock gone): answer as it stands.
      return answer((await findOrder(deps.db, order.id)) ?? order);
    }
    case 'pending':
      // processing / requires_action: the hold stays until a webhook settles it or its TTL ends.
      await leavePending(deps.db, order.id, outcome.paymentIntentId, { cause: API, status: outcome.status });
      return answer({ ...order, status: 'pending', paymentIntentId });
    case 'declined': {
      const fields = {
        failureCode: 'payment_declined',
        declineCode: outcome.declineCode,
        declineMessage: outcome.message,
        paymentIntentId,
      };
      // Stripe's own answer: this PaymentIntent did not succeed.
      await settleFailed(deps, order.id, fields, API, undefined, true);
      return answer({
        ...order,
        status: 'failed',
        ...fields,
        paymentIntentId: paymentIntentId ?? order.paymentIntentId,
      });
    }
  }
}

function answer(order: Order): IdempotentResult {
  return { ...answerFor(order), replayed: false };
}

function chargeOf(order: Order) {
  return {
    orderId: order.id,
    amountCents: order.amountCents,
    currency: order.currency,
    paymentMethodId: order.paymentMethodId,
    customerId: order.customerId,
  };
}
