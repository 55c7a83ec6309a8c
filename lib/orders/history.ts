import type { Db } from '../db';

/**
 * The order's history (order_events) and its events for other systems (outbox): both written in the
 * transaction of the change they record, never after it. A change made in one statement (paying a
 * pending order, the order_paid function) writes them in that statement; the rest call recordEvent
 * inside their transaction, after the change.
 */

/** Who caused a change: the storefront's request, Stripe's webhook, an operator's route, the scheduler. */
export type EventSource = 'api' | 'webhook' | 'operator' | 'scheduler';

export type OrderEventType =
  | 'created'
  | 'payment_pending'
  | 'paid'
  | 'payment_failed'
  | 'out_of_stock_after_payment'
  | 'canceled'
  | 'refund_requested'
  | 'refund_succeeded'
  | 'refund_failed'
  | 'dispute_opened'
  | 'dispute_updated'
  | 'dispute_closed';

/** The outbox topics (EventBridge detail-type): the changes other systems act on. */
export type OutboxTopic =
  | 'order.paid'
  | 'order.payment_failed'
  | 'order.canceled'
  | 'order.refunded'
  | 'refund.failed'
  | 'dispute.opened'
  | 'dispute.closed';

/** What caused a change: passed from the route, webhook or scheduler down to the statement that makes it. */
export interface Cause {
  source: EventSource;
  /** The Stripe event that caused it, when there is one. */
  stripeEventId?: string | null;
}

export interface OrderEvent {
  orderId: string;
  type: OrderEventType;
  cause: Cause;
  /** What changed, for an operator: amounts, refund id, Stripe's codes. Never a card number or a body. */
  data?: Record<string, unknown>;
  /** Also published to other systems under this topic, with `payload` (defaults to `data`). */
  publish?: { topic: OutboxTopic; payload?: Record<string, unknown> };
}

/**
 * Appends one history row, and its outbox row when it is published, in one statement. The caller
 * runs it in the transaction that makes the change (under the order's lock).
 */
export async function recordEvent(tx: Db, event: OrderEvent): Promise<void> {
  const data = event.data ?? {};
  await tx.query(
    `WITH e AS (
       INSERT INTO order_events (order_id, type, source, stripe_event_id, data) VALUES ($1, $2, $3, $4, $5)
     )
     INSERT INTO outbox (topic, order_id, payload)
     SELECT $6::text, $1, $7::jsonb WHERE $6::text IS NOT NULL`,
    [
      event.orderId,
      event.type,
      event.cause.source,
      event.cause.stripeEventId ?? null,
      JSON.stringify(data),
      event.publish?.topic ?? null,
      JSON.stringify(event.publish?.payload ?? data),
    ],
  );
}

export interface HistoryEntry {
  type: OrderEventType;
  source: EventSource;
  at: string;
  stripeEventId?: string;
  data: Record<string, unknown>;
}

/** The order's history, oldest first (GET /orders/{orderId}). */
export async function orderHistory(db: Db, orderId: string): Promise<HistoryEntry[]> {
  const { rows } = await db.query<{
    type: OrderEventType;
    source: EventSource;
    created_at: Date;
    stripe_event_id: string | null;
    data: Record<string, unknown>;
  }>('SELECT type, source, created_at, stripe_event_id, data FROM order_events WHERE order_id = $1 ORDER BY id', [
    orderId,
  ]);
  return rows.map((r) => ({
    type: r.type,
    source: r.source,
    at: r.created_at.toISOString(),
    ...(r.stripe_event_id ? { stripeEventId: r.stripe_event_id } : {}),
    data: r.data,
  }));
}
