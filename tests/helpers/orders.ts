import { randomUUID } from 'node:crypto';
import { createOrderHandler } from '../../handlers/create-order';
import { getOrderHandler } from '../../handlers/get-order';
import { refundHandler } from '../../handlers/refund';
import type { Config } from '../../lib/config';
import { availableOf } from './builders';
import { apiGatewayEvent, invoke, type Response } from './events';
import { testDeps } from './harness';
import { cardDeclinedError, paymentIntent, refund } from './stripe-fixtures';
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
  mockPaymentIntentsCreate.mockImplementation(
    async (params: { amount: number; currency: string; metadata: { order_id: string }; payment_method: string }) =>
      paymentIntent({
        status,
        amount: params.amount,
        currency: params.currency,
        orderId: params.metadata.order_id,
        paymentMethod: params.payment_method,
      }),
  );
}

/** The exact request the service must send Stripe for an order. */
export function expectedPaymentIntent(
  orderId: string,
  amount: number,
  currency = 'usd',
  paymentMethod = 'pm_card_visa',
) {
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
  if (response.statusCode !== 201)
    throw new Error(`expected a paid order, got ${response.statusCode} ${JSON.stringify(response.body)}`);
  mockPaymentIntentsCreate.mockClear();
  return response.body.order as { id: string; paymentIntentId: string; amountCents: number; currency: string };
}

/** An order placed through the API that waits for a webhook (3-D Secure); returns the API's order. */
export async function givenPendingOrder(items: OrderBody['items']) {
  stripeAnswers('requires_action');
  const response = await postOrder(orderBody(items));
  if (response.statusCode !== 202)
    throw new Error(`expected a pending order, got ${response.statusCode} ${JSON.stringify(response.body)}`);
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
    apiGatewayEvent({
      method: 'GET',
      path: `/orders/${orderId}`,
      routeKey: 'GET /orders/{orderId}',
      pathParameters: { orderId },
    }),
  );
}

/** Stripe accepts every refund, echoing what it was sent. */
export function stripeRefunds(): void {
  mockRefundsCreate.mockImplementation(
    async (params: { amount: number; payment_intent: string; metadata?: Record<string, string> }) =>
      refund({
        amount: params.amount,
        currency: 'usd',
        paymentIntentId: params.payment_intent,
        metadata: params.metadata,
      }),
  );
}

/** Stripe declines every card (card_declined with `declineCode`), with the PaymentIntent it made. */
export function stripeDeclines(declineCode = 'insufficient_funds'): void {
  mockPaymentIntentsCreate.mockImplementation(
    async (params: { amount: number; currency: string; metadata: { order_id: string } }) => {
      const intent = paymentIntent({
        status: 'requires_payment_method',
        amount: params.amount,
        currency: params.currency,
        orderId: params.metadata.order_id,
        declineCode,
      });
      throw cardDeclinedError({ intent, declineCode });
    },
  );
}

/** An order placed through the API whose card was declined (402); returns its id. */
export async function givenDeclinedOrder(items: OrderBody['items']): Promise<string> {
  stripeDeclines();
  const response = await postOrder(orderBody(items, 'pm_card_chargeDeclined'));
  if (response.statusCode !== 402)
    throw new Error(`expected a declined order, got ${response.statusCode} ${JSON.stringify(response.body)}`);
  mockPaymentIntentsCreate.mockClear();
  return response.body.error.orderId as string;
}

/**
 * Runs `look` on the next charge, while Stripe is being asked (the order's hold is in place then and
 * nothing is locked), then answers as the current mock would. Returns a getter for what it saw.
 */
export function duringNextCharge<T>(look: (orderId: string) => Promise<T>): () => T | undefined {
  const answer = mockPaymentIntentsCreate.getMockImplementation();
  let seen: T | undefined;
  mockPaymentIntentsCreate.mockImplementationOnce(
    async (params: { metadata: { order_id: string } }, ...rest: unknown[]) => {
      seen = await look(params.metadata.order_id);
      return answer?.(params, ...rest);
    },
  );
  return () => seen;
}

/**
 * What a buyer can hold of a product now, checked through the API, not only in PostgreSQL: the
 * available figure is exactly `units`, an order for one unit more is refused before any charge
 * (409 insufficient_inventory, Stripe not asked: the hold script itself said no), and an order for
 * exactly `units` is paid. It sells those units and sets Stripe to succeed: call it last.
 */
export async function expectSellableExactly(productId: string, units: number): Promise<void> {
  expect({ productId, available: await availableOf(productId) }).toEqual({ productId, available: units });
  stripeAnswers('succeeded');
  const chargesBefore = mockPaymentIntentsCreate.mock.calls.length;
  const oneMore = await postOrder(orderBody([{ productId, quantity: units + 1 }]));
  expect({
    productId,
    units: units + 1,
    statusCode: oneMore.statusCode,
    code: oneMore.body.error?.code,
    charged: mockPaymentIntentsCreate.mock.calls.length - chargesBefore,
  }).toEqual({
    productId,
    units: units + 1,
    statusCode: 409,
    code: 'insufficient_inventory',
    charged: 0,
  });
  if (units === 0) return;
  const exactly = await postOrder(orderBody([{ productId, quantity: units }]));
  expect({ productId, units, statusCode: exactly.statusCode }).toEqual({ productId, units, statusCode: 201 });
}
