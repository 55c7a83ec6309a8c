import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Deps } from '../deps';
import { InvalidRequestError } from '../errors';
import { settleHold } from '../inventory/reservations';
import { cents, storedText, UUID } from '../schemas';
import type { Cause } from './history';
import { lockOrderRow, orderIdByPaymentIntent } from './order-store';
import { recordRefund } from './refund-order';
import { matchRefund } from './refund-store';
import { type RefundMoved, recordRefundStatus, refundStatusOf } from './send-refund';

/**
 * Stripe's later word on refunds (webhooks): refund.created, refund.updated, refund.failed and
 * charge.refund.updated carry a Refund; charge.refunded carries the Charge, with its refunds listed
 * in `refunds.data` (absent, or only the first page, in newer API versions). Each refund is matched
 * to our row (by Stripe refund id, else metadata.refund_id, which we send) and the row follows its
 * status (recordRefundStatus: statuses only go forward, so an older event never undoes a newer
 * state). A refund none of ours matches, on an order holding its PaymentIntent, was made outside the
 * service (the Stripe dashboard): recorded as a money-only refund. Each refund is applied in a
 * transaction of its own, under the order's lock (taken first, then everything read).
 */
export const REFUND_EVENT_TYPES: ReadonlySet<string> = new Set([
  'charge.refunded',
  'charge.refund.updated',
  'refund.created',
  'refund.updated',
  'refund.failed',
]);

const ID = /^[A-Za-z0-9_]{1,250}$/;
const expandable = z.union([z.string().regex(ID), z.looseObject({ id: z.string().regex(ID) })]).nullish();

const refundSchema = z.looseObject({
  // re_ for cards; pyr_ for some other payment methods' refunds.
  id: z.string().regex(/^(re|pyr)_[A-Za-z0-9_]{1,250}$/, 'a Refund id (re_...)'),
  object: z.literal('refund'),
  amount: cents.refine((n) => n > 0, 'a positive amount'),
  status: storedText.nullish(),
  failure_reason: storedText.nullish(),
  payment_intent: expandable,
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

const chargeSchema = z.looseObject({
  id: z.string().regex(/^(ch|py)_[A-Za-z0-9_]{1,250}$/, 'a Charge id (ch_...)'),
  object: z.literal('charge'),
  payment_intent: expandable,
  // Not read (the refunds themselves are), only checked when present.
  amount_refunded: cents.optional(),
  refunds: z.looseObject({ data: z.array(refundSchema) }).nullish(),
});

type StripeRefund = z.infer<typeof refundSchema>;

/** What a refund event says: the refunds it carries (none for a Charge without its list). */
export interface RefundNews {
  refunds: StripeRefund[];
}

const idOf = (value: z.infer<typeof expandable>) => (typeof value === 'string' ? value : (value?.id ?? null));

/** The event's refunds, or invalid_request (400, nothing marked) for an object that is not what its type says. */
export function refundNewsOf(event: Stripe.Event): RefundNews {
  const object = (event as { data?: { object?: unknown } }).data?.object;
  const parsed = event.type === 'charge.refunded' ? chargeSchema.safeParse(object) : refundSchema.safeParse(object);
  if (!parsed.success) {
    const field = ['event', 'data', 'object', ...(parsed.error.issues[0]?.path ?? []).map(String)].join('.');
    const what = event.type === 'charge.refunded' ? 'Charge' : 'Refund';
    throw new InvalidRequestError(`${event.type} without a valid ${what} (${field})`, { field });
  }
  if (parsed.data.object === 'refund') return { refunds: [parsed.data] };
  const paymentIntentId = idOf(parsed.data.payment_intent);
  // A listed refund belongs to the charge's PaymentIntent even where the list leaves it out.
  const refunds = (parsed.data.refunds?.data ?? []).map((r) => ({
    ...r,
    payment_intent: r.payment_intent ?? paymentIntentId,
  }));
  return { refunds };
}

type RefundEventDeps = Pick<Deps, 'db' | 'redis'>;

/** Applies every refund the event carries; the outcome names the (last) order and what happened to each. */
export async function applyRefundEvent(
  deps: RefundEventDeps,
  event: Stripe.Event,
  news: RefundNews,
): Promise<{ orderId?: string; result: string }> {
  const cause: Cause = { source: 'webhook', stripeEventId: event.id };
  if (news.refunds.length === 0) return { result: 'no_refunds_listed' };
  let orderId: string | undefined;
  const results: string[] = [];
  for (const refund of news.refunds) {
    const applied = await applyRefund(deps, refund, cause, event.created);
    orderId = applied.orderId ?? orderId;
    results.push(applied.result);
  }
  return { ...(orderId ? { orderId } : {}), result: results.join(',') };
}

async function applyRefund(
  deps: RefundEventDeps,
  refund: StripeRefund,
  cause: Cause,
  eventCreated: number,
): Promise<{ orderId?: string; result: string }> {
  const stripe = {
    stripeRefundId: refund.id,
    refundId:
      typeof refund.metadata?.refund_id === 'string' && UUID.test(refund.metadata.refund_id)
        ? refund.metadata.refund_id.toLowerCase()
        : null,
    paymentIntentId: idOf(refund.payment_intent),
    amountCents: refund.amount,
  };
  // Which order (unlocked: only to know which order to lock; decided again after the lock).
  const ours = await matchRefund(deps.db, stripe);
  const orderId =
    ours?.orderId ??
    (stripe.paymentIntentId
      ? ((await orderIdByPaymentIntent(deps.db, stripe.paymentIntentId)) ?? undefined)
      : undefined);
  if (!orderId) return { result: 'no_matching_order' };
  const word = {
    status: refundStatusOf(refund.status),
    stripeRefundId: refund.id,
    failureReason: refund.failure_reason ?? null,
    eventCreated,
  };
  const moved = await deps.db.transaction(async (tx): Promise<RefundMoved & { recorded: boolean }> => {
    await lockOrderRow(tx, orderId);
    const row = await matchRefund(tx, { ...stripe, orderId });
    if (row) return { ...(await recordRefundStatus(tx, row.id, word, cause)), recorded: false };
    // Made outside the service: money only (nobody said which items came back), no stock moves.
    const id = randomUUID();
    await recordRefund(tx, {
      id,
      orderId,
      reason: null,
      lines: [],
      amountCents: refund.amount,
      source: 'stripe_dashboard',
      stripeRefundId: refund.id,
      cause,
    });
    return { ...(await recordRefundStatus(tx, id, word, cause)), recorded: true };
  });
  if (moved.restocked.length > 0) await settleHold(deps.redis, orderId, moved.restocked);
  return { orderId, result: `${moved.recorded ? 'dashboard_refund_' : 'refund_'}${moved.status}` };
}
