import type { Order } from './order-store';

/** The order as the API shows it (contract: POST /orders, GET /orders/{id}). */
export interface OrderView {
  id: string;
  status: Order['status'];
  amountCents: number;
  currency: string;
  paymentIntentId: string | null;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
}

export function orderView(
  order: Order,
  status: Order['status'] = order.status,
  paymentIntentId = order.paymentIntentId,
): OrderView {
  return {
    id: order.id,
    status,
    amountCents: order.amountCents,
    currency: order.currency,
    paymentIntentId,
    items: order.lines.map((l) => ({ productId: l.productId, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
  };
}
