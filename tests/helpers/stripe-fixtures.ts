import type Stripe from 'stripe';
import eventFixture from '../../fixtures/stripe/event.json';
import paymentIntentFixture from '../../fixtures/stripe/payment_intent.json';
import refundFixture from '../../fixtures/stripe/refund.json';

/**
 * Realistic Stripe objects: Stripe's own published examples (fixtures/stripe/, from
 * stripe/openapi fixtures3.json) with the fields a test cares about overridden.
 */
let sequence = 0;
const nextId = (prefix: string) =>
  `${prefix}_test${String(++sequence).padStart(6, '0')}${Math.random().toString(36).slice(2, 8)}`;

export interface PaymentIntentOverrides {
  id?: string;
  status: Stripe.PaymentIntent.Status;
  amount: number;
  currency: string;
  orderId: string;
  paymentMethod?: string;
  declineCode?: string;
}

export function paymentIntent(o: PaymentIntentOverrides): Stripe.PaymentIntent {
  const id = o.id ?? nextId('pi');
  const declined = o.status === 'requires_payment_method';
  return {
    ...(paymentIntentFixture as unknown as Stripe.PaymentIntent),
    id,
    client_secret: `${id}_secret_${Math.random().toString(36).slice(2, 12)}`,
    status: o.status,
    amount: o.amount,
    amount_received: o.status === 'succeeded' ? o.amount : 0,
    amount_capturable: 0,
    currency: o.currency,
    created: Math.floor(Date.now() / 1000),
    canceled_at: null,
    confirmation_method: 'automatic',
    latest_charge: o.status === 'succeeded' ? nextId('ch') : null,
    metadata: { order_id: o.orderId },
    payment_method: o.paymentMethod ?? 'pm_card_visa',
    automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
    last_payment_error: declined
      ? ({
          type: 'card_error',
          code: 'card_declined',
          decline_code: o.declineCode ?? 'generic_decline',
          message: 'Your card was declined.',
        } as Stripe.PaymentIntent.LastPaymentError)
      : null,
    next_action:
      o.status === 'requires_action'
        ? ({ type: 'use_stripe_sdk', use_stripe_sdk: {} } as Stripe.PaymentIntent.NextAction)
        : null,
    processing: o.status === 'processing' ? ({ type: 'card', card: {} } as Stripe.PaymentIntent.Processing) : null,
  };
}

export function refund(o: {
  amount: number;
  currency: string;
  paymentIntentId: string;
  metadata?: Record<string, string>;
}): Stripe.Refund {
  return {
    ...(refundFixture as unknown as Stripe.Refund),
    id: nextId('re'),
    amount: o.amount,
    currency: o.currency,
    payment_intent: o.paymentIntentId,
    charge: nextId('ch'),
    created: Math.floor(Date.now() / 1000),
    status: 'succeeded',
    metadata: o.metadata ?? {},
  };
}

export function event<T extends { id: string; object: string }>(
  type: string,
  object: T,
  o: { created?: number; id?: string } = {},
): Stripe.Event {
  return {
    ...(eventFixture as unknown as Stripe.Event),
    id: o.id ?? nextId('evt'),
    type,
    created: o.created ?? Math.floor(Date.now() / 1000),
    api_version: '2025-01-27.acacia',
    data: { object },
  } as unknown as Stripe.Event;
}

/** The real SDK's constructor (the module itself is mocked), for its error classes. */
function actualStripe(): typeof Stripe {
  const actual = jest.requireActual('stripe');
  return actual.default ?? actual;
}

/** What the Stripe API answers (HTTP 402) for a declined card: a StripeCardError from the real SDK. */
export function cardDeclinedError(o: { intent: Stripe.PaymentIntent; declineCode?: string }): Error {
  const { errors } = actualStripe();
  return new errors.StripeCardError({
    type: 'card_error',
    code: 'card_declined',
    decline_code: o.declineCode ?? 'generic_decline',
    message: 'Your card was declined.',
    statusCode: 402,
    payment_intent: o.intent,
    requestId: nextId('req'),
  } as never);
}

/** What the SDK throws when Stripe cannot be reached. */
export function connectionError(): Error {
  const { errors } = actualStripe();
  return new errors.StripeConnectionError({ message: 'An error occurred with our connection to Stripe.' } as never);
}

/** What the SDK throws when Stripe answers 5xx. */
export function apiError(): Error {
  const { errors } = actualStripe();
  return new errors.StripeAPIError({
    message: "Something went wrong on Stripe's end.",
    statusCode: 500,
    type: 'api_error',
  } as never);
}

/** What the SDK throws when Stripe refuses a request for good (HTTP 400), e.g. charge_already_refunded. */
export function invalidRequestError(code: string, message: string): Error {
  const { errors } = actualStripe();
  return new errors.StripeInvalidRequestError({
    type: 'invalid_request_error',
    code,
    message,
    statusCode: 400,
    requestId: nextId('req'),
  } as never);
}
