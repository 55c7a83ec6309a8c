import type Stripe from 'stripe';
import { z } from 'zod';
import type { Deps } from '../deps';
import { InvalidRequestError } from '../errors';
import { idempotent } from '../idempotency/idempotent';
import { RedisIdempotencyStore } from '../idempotency/redis-store';
import { keys } from '../keys';
import { storedText, UUID } from '../schemas';
import { applyCanceledEvent } from './apply-canceled-event';
import { applyDisputeEvent, DISPUTE_EVENTS, disputeOf } from './apply-dispute-event';
import { refundPaymentOfCanceledOrder } from './canceled-payment';
import type { Cause } from './history';
import { findOrder, findOrderByPaymentIntent, type Order } from './order-store';
import { completeOutOfStockRefund } from './out-of-stock';
import { OUT_OF_STOCK_AFTER_PAYMENT, settleFailed, settlePaid } from './payment-state';
import { applyRefundEvent, REFUND_EVENT_TYPES, refundNewsOf } from './refund-events';

/**
 * How long an event id is remembered. Stripe retries a delivery for up to 3 days; a day more
 * covers a retry that lands just as the mark would expire.
 */
export const EVENT_MARK_TTL_SECONDS = 4 * 24 * 3600;

type EventDeps = Pick<Deps, 'db' | 'redis' | 'payments' | 'config'>;

export type EventOutcome = { duplicate: true } | { duplicate: false; orderId?: string; result?: string };

/**
 * Applies one verified Stripe event exactly once, through the idempotency store on
 * stripe:event:{id}: the id is taken "in progress" for REQUEST_LOCK_SECONDS, and marked done for
 * EVENT_MARK_TTL_SECONDS only once the event is applied. A redelivery while the first is still
 * being applied gets 409 with Retry-After (Stripe delivers it again later); one after a container
 * died mid-way (its claim ran out) applies it; one after it was applied is a duplicate. If applying
 * fails the id is let go, so Stripe's retry applies it. PostgreSQL state is the real guard:
 * re-applying an event whose mark Redis lost changes nothing.
 */
export async function applyStripeEvent(deps: EventDeps, event: Stripe.Event): Promise<EventOutcome> {
  const intent = HANDLED.has(event.type) ? intentOf(event) : null;
  const dispute = DISPUTE_EVENTS.has(event.type) ? disputeOf(event) : null;
  const refunds = REFUND_EVENT_TYPES.has(event.type) ? refundNewsOf(event) : null;
  const ttl = { resultSeconds: EVENT_MARK_TTL_SECONDS, lockSeconds: deps.config.requestLockSeconds };
  const applied = await idempotent(
    new RedisIdempotencyStore(deps.redis),
    keys.stripeEvent(event.id),
    event.id,
    ttl,
    async () => {
      const outcome = intent
        ? await apply(deps, event, intent)
        : dispute
          ? await applyDisputeEvent(deps, event, dispute)
          : refunds
            ? await applyRefundEvent(deps, event, refunds)
            : { result: 'ignored' };
      return { statusCode: 200, body: outcome, replayed: false };
    },
  );
  return applied.replayed
    ? { duplicate: true }
    : { duplicate: false, ...(applied.body as { orderId?: string; result?: string }) };
}

/**
 * What a handled event must carry: a PaymentIntent object with its id. A signed event without it
 * (Stripe never sends one) is refused as invalid_request before anything is marked or changed.
 */
const paymentIntentEventSchema = z.looseObject({
  data: z.looseObject({
    object: z.looseObject({
      id: z.string().regex(/^pi_[A-Za-z0-9_]{1,250}$/, 'a PaymentIntent id (pi_...)'),
      object: z.literal('payment_intent'),
      metadata: z.record(z.string(), z.unknown()).nullish(),
      last_payment_error: z
        .looseObject({ code: storedText.nullish(), decline_code: storedText.nullish(), message: storedText.nullish() })
        .nullish(),
      cancellation_reason: storedText.nullish(),
    }),
  }),
});

const HANDLED = new Set(['payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.canceled']);

/** The event's PaymentIntent, or invalid_request (400) for a handled type whose object is malformed. */
function intentOf(event: Stripe.Event): Stripe.PaymentIntent {
  const parsed = paymentIntentEventSchema.safeParse(event);
  if (!parsed.success) {
    const field = ['event', ...(parsed.error.issues[0]?.path ?? []).map(String)].join('.');
    throw new InvalidRequestError(`${event.type} without a valid PaymentIntent (${field})`, { field });
  }
  return parsed.data.data.object as unknown as Stripe.PaymentIntent;
}

async function apply(
  deps: EventDeps,
  event: Stripe.Event,
  intent: Stripe.PaymentIntent,
): Promise<{ orderId?: string; result?: string }> {
  const order = await orderOf(deps, intent);
  if (!order) return { result: 'no_matching_order' };
  const at = { created: event.created };
  const cause: Cause = { source: 'webhook', stripeEventId: event.id };
  if (event.type === 'payment_intent.canceled') return applyCanceledEvent(deps, event, intent, order);

  if (event.type === 'payment_intent.succeeded') {
    if (order.failureCode === OUT_OF_STOCK_AFTER_PAYMENT) {
      // Already failed for lack of stock: only make sure its refund reached Stripe.
      await completeOutOfStockRefund(deps, order.id);
      return { orderId: order.id, result: 'refund_completed' };
    }
    const outcome = await settlePaid(deps, order.id, intent.id, cause, at);
    if (outcome.kind === 'unchanged') {
      // Paid after it was canceled (its PaymentIntent was not found to cancel): give the money back.
      // Whether it is canceled is decided under the order's lock (the status read above may be stale).
      const refunded = await refundPaymentOfCanceledOrder(deps, {
        orderId: order.id,
        paymentIntentId: intent.id,
        cause,
      });
      if (refunded) return { orderId: order.id, result: 'canceled_payment_refunded' };
    }
    // 'already_paid': a success applied again to an order that was paid (counted once, not twice).
    return {
      orderId: order.id,
      result: outcome.kind === 'paid' && order.status === 'paid' ? 'already_paid' : outcome.kind,
    };
  }
  const error = intent.last_payment_error;
  const fields = {
    failureCode: 'payment_declined',
    declineCode: error?.decline_code ?? error?.code ?? null,
    paymentIntentId: intent.id,
  };
  const outcome = await settleFailed(deps, order.id, fields, cause, at);
  if (outcome.kind !== 'paid') return { orderId: order.id, result: outcome.kind };
  // A newer failure for a paid order: the PaymentIntent at Stripe decides. Succeeded is final there,
  // so the order keeps its money and its stock; only Stripe's word that it did not succeed moves it.
  const atStripe = await deps.payments.findCharge(order.id, intent.id);
  if (atStripe?.kind !== 'declined') return { orderId: order.id, result: 'kept_paid' };
  const failed = await settleFailed(deps, order.id, fields, cause, at, true);
  return { orderId: order.id, result: failed.kind };
}

/**
 * The order an event is about: the one that recorded this PaymentIntent (it is unique, and Stripe's
 * own), else the one metadata.order_id names if it has no PaymentIntent yet. An event naming an
 * order that has another PaymentIntent, or whose PaymentIntent another order holds, is about no
 * order of ours.
 */
async function orderOf(deps: EventDeps, intent: Stripe.PaymentIntent): Promise<Order | null> {
  const byIntent = await findOrderByPaymentIntent(deps.db, intent.id);
  if (byIntent) return byIntent;
  const orderId = intent.metadata?.order_id;
  const named = typeof orderId === 'string' && UUID.test(orderId) ? await findOrder(deps.db, orderId) : null;
  return named && named.paymentIntentId === null ? named : null;
}
