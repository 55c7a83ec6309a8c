import type { Db } from '../db';
import { OrderNotFoundError } from '../errors';
import { UUID } from '../schemas';
import { type DisputeView, disputeOf } from './dispute-store';
import { type EventSource, type HistoryEntry, type OrderEventType, orderHistory } from './history';
import { findOrder } from './order-store';
import { type OrderView, orderView } from './order-view';
import { type RefundView, refundsOf } from './refund-view-store';

/** One entry of the order's history as the API shows it: who, when, then what changed. */
export type OrderEventView = {
  type: OrderEventType;
  source: EventSource;
  at: string;
  stripeEventId?: string;
} & Record<string, unknown>;

export interface OrderDetails extends OrderView {
  failureCode: string | null;
  declineCode: string | null;
  refunds: RefundView[];
  dispute: DisputeView | null;
  events: OrderEventView[];
}

/**
 * GET /orders/{orderId}: the order as PostgreSQL holds it, with its lines, refunds, dispute and
 * history (oldest first). Read one after another, each at least as new as the one before.
 */
export async function getOrder(db: Db, orderId: string): Promise<OrderDetails> {
  const order = UUID.test(orderId) ? await findOrder(db, orderId) : null;
  if (!order) throw new OrderNotFoundError(orderId);
  const refunds = await refundsOf(db, orderId);
  const dispute = await disputeOf(db, orderId);
  const history = await orderHistory(db, orderId);
  return {
    ...orderView(order),
    failureCode: order.failureCode,
    declineCode: order.declineCode,
    refunds,
    dispute,
    events: history.map(eventView),
  };
}

/** The entry's own fields first; what it recorded never overwrites them. */
function eventView(e: HistoryEntry): OrderEventView {
  return {
    ...e.data,
    type: e.type,
    source: e.source,
    at: e.at,
    ...(e.stripeEventId ? { stripeEventId: e.stripeEventId } : {}),
  };
}
