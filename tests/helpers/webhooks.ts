import type Stripe from 'stripe';
import { stripeWebhookHandler } from '../../handlers/stripe-webhook';
import { apiGatewayEvent, invoke, type Response } from './events';
import { testDeps } from './harness';
import { paymentIntent, event as stripeEvent } from './stripe-fixtures';
import { mockedStripeModule } from './stripe-mock';

export const WEBHOOK_SECRET = 'whsec_test_current_0123456789';
export const OLD_WEBHOOK_SECRET = 'whsec_test_previous_9876543210';

/** Signs `payload` exactly as Stripe does, with the real SDK's test helper. */
export function sign(payload: string, o: { secret?: string; timestamp?: number } = {}): string {
  return mockedStripeModule().webhooks.generateTestHeaderString({
    payload,
    secret: o.secret ?? WEBHOOK_SECRET,
    ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
  });
}

/** POST /webhooks/stripe through the real handler, configured with the current and the old secret. */
export function deliver(
  payload: string,
  o: { signature?: string | null; secret?: string; timestamp?: number; base64?: boolean } = {},
): Promise<Response> {
  const signature = o.signature === undefined ? sign(payload, o) : o.signature;
  const handler = stripeWebhookHandler(
    () => testDeps(),
    () => [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET],
  );
  return invoke(
    handler,
    apiGatewayEvent({
      method: 'POST',
      path: '/webhooks/stripe',
      headers: signature === null ? {} : { 'stripe-signature': signature },
      rawBody: o.base64 ? Buffer.from(payload).toString('base64') : payload,
      isBase64Encoded: o.base64 ?? false,
    }),
  );
}

/** A payment_intent.* event about an order, as Stripe sends it (JSON text). */
export function paymentEvent(
  type: 'payment_intent.succeeded' | 'payment_intent.payment_failed',
  order: { id: string; paymentIntentId: string; amountCents: number; currency: string },
  o: { created?: number; id?: string } = {},
): { event: Stripe.Event; payload: string } {
  const intent = paymentIntent({
    id: order.paymentIntentId,
    status: type === 'payment_intent.succeeded' ? 'succeeded' : 'requires_payment_method',
    amount: order.amountCents,
    currency: order.currency,
    orderId: order.id,
    declineCode: 'insufficient_funds',
  });
  const event = stripeEvent(type, intent, o);
  return { event, payload: JSON.stringify(event, null, 2) };
}
