import type { Db } from '../db';
import { OrderNotFoundError } from '../errors';
import { UUID } from '../schemas';
import { findOrder } from './order-store';
import { type OrderView, orderView } from './order-view';
import { type RefundView, refundsOf } from './refund-view-store';

export interface OrderDetails extends OrderView {
  failureCode: string | null;
  declineCode: string | null;
  refunds: RefundView[];
}

/** GET /orders/{orderId}: the order as PostgreSQL holds it, with its lines and refunds. */
export async function getOrder(db: Db, orderId: string): Promise<OrderDetails> {
  const order = UUID.test(orderId) ? await findOrder(db, orderId) : null;
  if (!order) throw new OrderNotFoundError(orderId);
  return {
    ...orderView(order),
    failureCode: order.failureCode,
    declineCode: order.declineCode,
    refunds: await refundsOf(db, orderId),
  };
}
