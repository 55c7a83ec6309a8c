import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Deps } from '../deps';
import { InvalidRequestError } from '../errors';
import { cents, storedText, unixSeconds } from '../schemas';
import { type DisputeFields, findDispute, type StoredDispute, saveDispute } from './dispute-store';
import { type Cause, type OrderEvent, recordEvent } from './history';
import { lockOrderRow, orderIdByPaymentIntent } from './order-store';

/**
 * charge.dispute.*: the order's dispute (chargeback) follows Stripe; the order's status never
 * changes (the money is Stripe's and the bank's to move, and a won dispute gives it back).
 */

export const DISPUTE_EVENTS = new Set(['charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed']);

/** Statuses a dispute ends in (it may still be appealed, so they are not final for us). */
const CLOSED = new Set(['won', 'lost', 'warning_closed', 'prevented']);

/**
 * What a dispute event must carry (Stripe's Dispute object). Webhooks never expand, so
 * `payment_intent` and `charge` are ids. A signed event without them is refused (400) before
 * anything is marked or changed.
 */
const disputeEventSchema = z.looseObject({
  data: z.looseObject({
    object: z.looseObject({
      // du_ today, dp_ for older disputes.
      id: z.string().regex(/^d[pu]_[A-Za-z0-9_]{1,250}$/, 'a Dispute id (du_... or dp_...)'),
      object: z.literal('dispute'),
      amount: cents,
      currency: z.string().regex(/^[a-z]{3}$/, 'a lower-case ISO currency'),
      reason: storedText.min(1),
      status: storedText.min(1),
      evidence_details: z.looseObject({ due_by: unixSeconds.or(z.literal(0)).nullable() }),
      payment_intent: z
        .string()
        .regex(/^pi_[A-Za-z0-9_]{1,250}$/, 'a PaymentIntent id (pi_...)')
        .nullish(),
      charge: z.string().min(1),
    }),
  }),
});

export type DisputeObject = z.infer<typeof disputeEventSchema>['data']['object'];

/** The event's Dispute, or invalid_request (400) when its object is malformed. */
export function disputeOf(event: Stripe.Event): DisputeObject {
  const parsed = disputeEventSchema.safeParse(event);
  if (!parsed.success) {
    const field = ['event', ...(parsed.error.issues[0]?.path ?? []).map(String)].join('.');
    throw new InvalidRequestError(`${event.type} without a valid Dispute (${field})`, { field });
  }
  return parsed.data.data.object;
}

/**
 * Records the dispute under its order's lock (then the read: the locking rule). An event older than
 * the last one applied never moves it back; within the same second a dispute.closed applies, and
 * no other event reopens a dispute that is closed. History: the first event seen of a dispute
 * opens it ('dispute_opened', published), whatever its type (a late dispute.created is then older
 * and ignored); a dispute.closed that brings a closed status not yet recorded closes it
 * ('dispute_closed', published); any other change is 'dispute_updated'.
 */
export async function applyDisputeEvent(
  deps: Pick<Deps, 'db'>,
  event: Stripe.Event,
  dispute: DisputeObject,
): Promise<{ orderId?: string; result: string }> {
  const orderId = dispute.payment_intent ? await orderIdByPaymentIntent(deps.db, dispute.payment_intent) : null;
  if (!orderId) return { result: 'no_matching_order' };
  const closing = event.type === 'charge.dispute.closed';
  const fields: DisputeFields = {
    orderId: orderId,
    stripeDisputeId: dispute.id,
    amountCents: dispute.amount,
    currency: dispute.currency,
    reason: dispute.reason,
    status: dispute.status,
    // 0: the bank allows no response, so no evidence is due.
    evidenceDueBy: dispute.evidence_details.due_by ? new Date(dispute.evidence_details.due_by * 1000) : null,
    eventCreated: event.created,
  };
  const result = await deps.db.transaction(async (tx) => {
    await lockOrderRow(tx, orderId);
    const before = await findDispute(tx, dispute.id, dispute.status);
    if (before && !moves(before, event.created, closing)) return 'unchanged';
    await saveDispute(tx, randomUUID(), fields);
    const events = history(fields, before, closing, { source: 'webhook', stripeEventId: event.id });
    for (const e of events) await recordEvent(tx, e);
    return events[events.length - 1]?.type ?? 'unchanged';
  });
  return { orderId: orderId, result };
}

function moves(before: StoredDispute, created: number, closing: boolean): boolean {
  if (before.lastEventCreated === null || created > before.lastEventCreated) return true;
  if (created < before.lastEventCreated) return false;
  // Same second: Stripe's order is unknown. Closing is a dispute's last step.
  return closing || !CLOSED.has(before.status);
}

function history(d: DisputeFields, before: StoredDispute | null, closing: boolean, cause: Cause): OrderEvent[] {
  const data = {
    disputeId: d.stripeDisputeId,
    status: d.status,
    amountCents: d.amountCents,
    currency: d.currency,
    reason: d.reason,
    evidenceDueBy: d.evidenceDueBy?.toISOString() ?? null,
  };
  const base = { orderId: d.orderId, cause, data };
  const events: OrderEvent[] = [];
  if (!before) events.push({ ...base, type: 'dispute_opened', publish: { topic: 'dispute.opened' } });
  if (closing && CLOSED.has(d.status) && !before?.closedRecorded) {
    events.push({ ...base, type: 'dispute_closed', publish: { topic: 'dispute.closed' } });
  } else if (before) {
    events.push({ ...base, type: 'dispute_updated' });
  }
  return events;
}
