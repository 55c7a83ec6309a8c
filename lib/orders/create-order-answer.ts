import { errorBody, InsufficientInventoryError, PaymentDeclinedError } from '../errors';
import type { StoredResponse } from '../idempotency/port';
import type { Order } from './order-store';
import { orderView } from './order-view';

/**
 * The one source of POST /orders' answers, from the order as it stands: the first answer, and the
 * one rebuilt from PostgreSQL when Redis lost the stored answer, are the same (a replayed 402
 * carries Stripe's own message, kept in orders.decline_message). Refusals that are final (declined,
 * no stock) are answers too: stored and replayed under the Idempotency-Key.
 */
export function answerFor(order: Order): StoredResponse {
  switch (order.failureCode) {
    case null:
      return { statusCode: order.status === 'pending' ? 202 : 201, body: { order: orderView(order) } };
    case 'payment_declined':
      return {
        statusCode: 402,
        body: errorBody(new PaymentDeclinedError(order.id, order.declineCode, order.declineMessage ?? undefined)),
      };
    default:
      return {
        statusCode: 409,
        body: errorBody(new InsufficientInventoryError(order.id, order.failureProductId ?? '')),
      };
  }
}
