import type { Db } from '../db';

/** The disputes aggregate in SQL: the order's chargebacks as Stripe reports them. */

export interface DisputeFields {
  orderId: string;
  stripeDisputeId: string;
  amountCents: number;
  currency: string;
  reason: string;
  status: string;
  evidenceDueBy: Date | null;
  /** The Stripe event's `created` (Unix seconds). */
  eventCreated: number;
}

export interface StoredDispute {
  status: string;
  lastEventCreated: number | null;
  /** A 'dispute_closed' with `closedStatus` is already in the order's history (it is published once). */
  closedRecorded: boolean;
}

/** The dispute as last applied; the caller holds the order's lock (read after it). */
export async function findDispute(
  tx: Db,
  stripeDisputeId: string,
  closedStatus: string,
): Promise<StoredDispute | null> {
  const { rows } = await tx.query<{ status: string; last_event_created: string | null; closed_recorded: boolean }>(
    `SELECT d.status, d.last_event_created,
            EXISTS (SELECT 1 FROM order_events e
                     WHERE e.order_id = d.order_id AND e.type = 'dispute_closed'
                       AND e.data->>'disputeId' = d.stripe_dispute_id AND e.data->>'status' = $2) AS closed_recorded
       FROM disputes d WHERE d.stripe_dispute_id = $1`,
    [stripeDisputeId, closedStatus],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    status: row.status,
    lastEventCreated: row.last_event_created === null ? null : Number(row.last_event_created),
    closedRecorded: row.closed_recorded,
  };
}

/** The dispute recorded, or moved to what Stripe says now; the caller has decided it may move. */
export async function saveDispute(tx: Db, id: string, d: DisputeFields): Promise<void> {
  await tx.query(
    `INSERT INTO disputes (id, order_id, stripe_dispute_id, amount_cents, currency, reason, status, evidence_due_by,
                           last_event_created)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (stripe_dispute_id) DO UPDATE
        SET amount_cents = EXCLUDED.amount_cents, currency = EXCLUDED.currency, reason = EXCLUDED.reason,
            status = EXCLUDED.status, evidence_due_by = EXCLUDED.evidence_due_by,
            last_event_created = EXCLUDED.last_event_created, updated_at = clock_timestamp()`,
    [id, d.orderId, d.stripeDisputeId, d.amountCents, d.currency, d.reason, d.status, d.evidenceDueBy, d.eventCreated],
  );
}

/** The order's dispute as the API shows it (GET /orders/{orderId}). */
export interface DisputeView {
  /** Stripe's dispute id. */
  id: string;
  status: string;
  amountCents: number;
  reason: string | null;
  evidenceDueBy: string | null;
}

/** The order's latest dispute (a payment is rarely disputed twice), or null. */
export async function disputeOf(db: Db, orderId: string): Promise<DisputeView | null> {
  const { rows } = await db.query<{
    stripe_dispute_id: string;
    status: string;
    amount_cents: number;
    reason: string | null;
    evidence_due_by: Date | null;
  }>(
    `SELECT stripe_dispute_id, status, amount_cents, reason, evidence_due_by FROM disputes
      WHERE order_id = $1 ORDER BY created_at DESC, id LIMIT 1`,
    [orderId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    id: row.stripe_dispute_id,
    status: row.status,
    amountCents: row.amount_cents,
    reason: row.reason,
    evidenceDueBy: row.evidence_due_by?.toISOString() ?? null,
  };
}
