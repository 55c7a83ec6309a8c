import type Stripe from 'stripe';
import {
  type CancelOutcome,
  type CancelRequest,
  type ChargeRequest,
  type PaymentOutcome,
  PaymentProviderError,
  type Payments,
  type RefundOutcome,
  type RefundRequest,
} from './payments';

/** Stripe error types that mean "the provider is unavailable", not "this request is wrong". */
const UNAVAILABLE = new Set([
  'StripeConnectionError',
  'StripeAPIError',
  'StripeRateLimitError',
  'StripeAuthenticationError',
  'StripePermissionError',
]);

interface StripeErrorLike {
  type?: string;
  code?: string;
  decline_code?: string;
  message?: string;
  statusCode?: number;
  payment_intent?: { id?: string };
  raw?: { payment_intent?: { id?: string } };
}

function outcomeOf(intent: Stripe.PaymentIntent): PaymentOutcome {
  switch (intent.status) {
    case 'succeeded':
      return { kind: 'succeeded', paymentIntentId: intent.id };
    case 'requires_payment_method':
    case 'canceled': {
      const error = intent.last_payment_error;
      return {
        kind: 'declined',
        paymentIntentId: intent.id,
        declineCode: error?.decline_code ?? error?.code ?? null,
        message: error?.message ?? `the payment is ${intent.status}`,
        status: intent.status,
      };
    }
    default:
      return { kind: 'pending', paymentIntentId: intent.id, status: intent.status };
  }
}

function isUnavailable(error: StripeErrorLike): boolean {
  return UNAVAILABLE.has(error.type ?? '') || (error.statusCode ?? 0) >= 500;
}

/** Turns a thrown Stripe error into a declined outcome, or rethrows it as "provider unavailable". */
function declinedOrThrow(error: unknown): PaymentOutcome {
  const e = (error ?? {}) as StripeErrorLike;
  if (e.type === 'StripeCardError' || (e.type === 'StripeInvalidRequestError' && !isUnavailable(e))) {
    return {
      kind: 'declined',
      paymentIntentId: e.payment_intent?.id ?? e.raw?.payment_intent?.id ?? null,
      declineCode: e.decline_code ?? e.code ?? null,
      message: e.message ?? 'the payment was declined',
    };
  }
  throw new PaymentProviderError(`Stripe: ${e.message ?? 'request failed'}`, error);
}

/**
 * Refunds are classified like charges: unavailable -> PaymentProviderError (retry later); a request
 * Stripe refuses (invalid request, idempotency conflict, a card-side refusal) -> rejected for good.
 */
function rejectedOrThrow(error: unknown): RefundOutcome {
  const e = (error ?? {}) as StripeErrorLike;
  if (
    !isUnavailable(e) &&
    (e.type === 'StripeInvalidRequestError' || e.type === 'StripeIdempotencyError' || e.type === 'StripeCardError')
  ) {
    return { kind: 'rejected', code: e.code ?? e.type, message: e.message ?? 'Stripe refused the refund' };
  }
  throw new PaymentProviderError(`Stripe: ${e.message ?? 'request failed'}`, error);
}

function unavailable(error: unknown): never {
  const e = (error ?? {}) as StripeErrorLike;
  throw new PaymentProviderError(`Stripe: ${e.message ?? 'request failed'}`, error);
}

/** The Payments port over the Stripe SDK. `stripe` is a getter so the client is built on first use. */
export function stripePayments(stripe: () => Stripe): Payments {
  return {
    async charge(request: ChargeRequest): Promise<PaymentOutcome> {
      const client = stripe(); // a configuration error surfaces as itself, not as an outage
      try {
        const intent = await client.paymentIntents.create(
          {
            amount: request.amountCents,
            currency: request.currency,
            payment_method: request.paymentMethodId,
            confirm: true,
            // A server-side card payment: no redirect-based methods, so no return_url is needed.
            automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
            metadata: { order_id: request.orderId, customer_id: request.customerId },
          },
          { idempotencyKey: `order-${request.orderId}-payment` },
        );
        return outcomeOf(intent);
      } catch (error) {
        return declinedOrThrow(error);
      }
    },

    async findCharge(orderId: string, paymentIntentId: string | null): Promise<PaymentOutcome | null> {
      const client = stripe();
      try {
        if (paymentIntentId) return outcomeOf(await client.paymentIntents.retrieve(paymentIntentId));
        const found = await client.paymentIntents.search({ query: `metadata['order_id']:'${orderId}'`, limit: 1 });
        const intent = found.data[0];
        return intent ? outcomeOf(intent) : null;
      } catch (error) {
        return unavailable(error);
      }
    },

    async cancel(request: CancelRequest): Promise<CancelOutcome> {
      const client = stripe();
      try {
        const intent = await client.paymentIntents.cancel(
          request.paymentIntentId,
          { cancellation_reason: request.reason },
          { idempotencyKey: `order-${request.orderId}-cancel` },
        );
        return intent.status === 'canceled' ? { kind: 'canceled' } : { kind: 'not_cancelable', status: intent.status };
      } catch (error) {
        const e = (error ?? {}) as StripeErrorLike & { raw?: { payment_intent?: { status?: string } } };
        // Stripe refuses to cancel a PaymentIntent in a final or in-flight state (400
        // payment_intent_unexpected_state): ask it what that state is.
        if (e.type === 'StripeInvalidRequestError' && !isUnavailable(e)) {
          try {
            const intent = await client.paymentIntents.retrieve(request.paymentIntentId);
            return intent.status === 'canceled'
              ? { kind: 'canceled' }
              : { kind: 'not_cancelable', status: intent.status };
          } catch (retrieveError) {
            return unavailable(retrieveError);
          }
        }
        return unavailable(error);
      }
    },

    async refund(request: RefundRequest): Promise<RefundOutcome> {
      const client = stripe();
      try {
        const refund = await client.refunds.create(
          {
            payment_intent: request.paymentIntentId,
            amount: request.amountCents,
            ...(request.reason ? { reason: request.reason } : {}),
            metadata: request.metadata,
          },
          { idempotencyKey: request.idempotencyKey },
        );
        return { kind: 'sent', refundId: refund.id, status: refund.status ?? 'succeeded' };
      } catch (error) {
        return rejectedOrThrow(error);
      }
    },

    async findRefund(paymentIntentId: string, refundId: string): Promise<{ refundId: string; status: string } | null> {
      const client = stripe();
      try {
        // 100 is the API's largest page; an order is refunded in far fewer pieces than that.
        const list = await client.refunds.list({ payment_intent: paymentIntentId, limit: 100 });
        const found = list.data.find(
          (r) => r.metadata?.refund_id === refundId && r.status !== 'failed' && r.status !== 'canceled',
        );
        return found ? { refundId: found.id, status: found.status ?? 'succeeded' } : null;
      } catch (error) {
        return unavailable(error);
      }
    },
  };
}
