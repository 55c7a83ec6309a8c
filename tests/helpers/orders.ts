import { randomUUID } from 'node:crypto';
import { createOrderHandler } from '../../handlers/create-order';
import { getOrderHandler } from '../../handlers/get-order';
import { refundHandler } from '../../handlers/refund';
import type { Config } from '../../lib/config';
import { apiGatewayEvent, invoke, type Response } from './events';
import { testDeps } from './harness';
import { paymentIntent, refund } from './stripe-fixtures';
import { mockPaymentIntentsCreate, mockRefundsCreate } from './stripe-mock';

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

/** An order placed through the API and paid synchronously; returns the API's order. */
export async function givenPaidOrder(items: OrderBody['items']) {
  stripeAnswers('succeeded');
  const response = await postOrder(orderBody(items));
  if (response.statusCode !== 201) throw new Error(`expected a paid order, got ${response.statusCode} ${JSON.stringify(response.body)}`);
  mockPaymentIntentsCreate.mockClear();
  return response.body.order as { id: string; paymentIntentId: string; amountCents: number; currency: string };
}

/** An order placed through the API that waits for a webhook (3-D Secure); returns the API's order. */
export async function givenPendingOrder(items: OrderBody['items']) {
  stripeAnswers('requires_action');
  const response = await postOrder(orderBody(items));
  if (response.statusCode !== 202) throw new Error(`expected a pending order, got ${response.statusCode} ${JSON.stringify(response.body)}`);
  mockPaymentIntentsCreate.mockClear();
  return response.body.order as { id: string; paymentIntentId: string; amountCents: number; currency: string };
}

/** POST /orders/{orderId}/refunds through the real handler. */
export function postRefund(orderId: string, body?: unknown, o: { idempotencyKey?: string } = {}): Promise<Response> {
  return invoke(
    refundHandler(() => testDeps()),
    apiGatewayEvent({
      method: 'POST',
      path: `/orders/${orderId}/refunds`,
      routeKey: 'POST /orders/{orderId}/refunds',
      pathParameters: { orderId },
      headers: o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {},
      body,
    }),
  );
}

/** GET /orders/{orderId} through the real handler. */
export function getOrder(orderId: string): Promise<Response> {
  return invoke(
    getOrderHandler(() => testDeps()),
    apiGatewayEvent({ method: 'GET', path: `/orders/${orderId}`, routeKey: 'GET /orders/{orderId}', pathParameters: { orderId } }),
  );
}

/** Stripe accepts every refund, echoing what it was sent. */
export function stripeRefunds(): void {
  mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string; metadata?: Record<string, string> }) =>
    refund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent, metadata: params.metadata }),
  );
}
