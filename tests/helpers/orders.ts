import { randomUUID } from 'node:crypto';
import { createOrderHandler } from '../../handlers/create-order';
import type { Config } from '../../lib/config';
import { apiGatewayEvent, invoke, type Response } from './events';
import { testDeps } from './harness';
import { paymentIntent } from './stripe-fixtures';
import { mockPaymentIntentsCreate } from './stripe-mock';

export interface OrderBody {
  customerId?: string;
  paymentMethodId?: string;
  items: { productId: string; quantity: number }[];
}

/** POST /orders through the real handler. */
export function postOrder(
  body: OrderBody | unknown,
  o: { idempotencyKey?: string | null; headers?: Record<string, string>; config?: Partial<Config> } = {},
): Promise<Response> {
  const key = o.idempotencyKey === undefined ? randomUUID() : o.idempotencyKey;
  const handler = createOrderHandler(() => testDeps({ config: o.config }));
  return invoke(
    handler,
    apiGatewayEvent({
      method: 'POST',
      path: '/orders',
      headers: { ...(key === null ? {} : { 'idempotency-key': key }), ...o.headers },
      body,
    }),
  );
}

export function orderBody(items: OrderBody['items'], paymentMethodId = 'pm_card_visa'): OrderBody {
  return { customerId: 'cus_1', paymentMethodId, items };
}

/** Stripe confirms every PaymentIntent with `status` (default: succeeded), echoing what it was sent. */
export function stripeAnswers(status: 'succeeded' | 'processing' | 'requires_action' = 'succeeded'): void {
  mockPaymentIntentsCreate.mockImplementation(async (params: { amount: number; currency: string; metadata: { order_id: string }; payment_method: string }) =>
    paymentIntent({ status, amount: params.amount, currency: params.currency, orderId: params.metadata.order_id, paymentMethod: params.payment_method }),
  );
}

/** The exact request the service must send Stripe for an order. */
export function expectedPaymentIntent(orderId: string, amount: number, currency = 'usd', paymentMethod = 'pm_card_visa') {
  return [
    {
      amount,
      currency,
      payment_method: paymentMethod,
      confirm: true,
      automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
      metadata: { order_id: orderId, customer_id: 'cus_1' },
    },
    { idempotencyKey: `order-${orderId}-payment` },
  ];
}
