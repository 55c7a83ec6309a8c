/** The payment port: what the order use cases need of a payment provider. */

export interface ChargeRequest {
  orderId: string;
  amountCents: number;
  currency: string;
  paymentMethodId: string;
  customerId: string;
}

export type PaymentOutcome =
  | { kind: 'succeeded'; paymentIntentId: string }
  /** processing, requires_action, ...: a webhook settles it later. */
  | { kind: 'pending'; paymentIntentId: string; status: string }
  | {
      kind: 'declined';
      paymentIntentId: string | null;
      declineCode: string | null;
      message: string;
      /** The PaymentIntent's status when known (`requires_payment_method`, `canceled`). */
      status?: string;
    };

/** Stripe's cancellation reasons for a PaymentIntent (`abandoned`: the scheduler's). */
export type CancellationReason = 'abandoned' | 'requested_by_customer' | 'duplicate' | 'fraudulent';

export interface CancelRequest {
  orderId: string;
  paymentIntentId: string;
  reason: CancellationReason;
}

/**
 * What Stripe said to a cancel: `canceled` (now or before), or the PaymentIntent is past canceling
 * (`succeeded`, `processing`: its status says which). Unreachable is thrown as PaymentProviderError.
 */
export type CancelOutcome = { kind: 'canceled' } | { kind: 'not_cancelable'; status: string };

export interface RefundRequest {
  paymentIntentId: string;
  amountCents: number;
  /** Derived from our own refund row, so a retried refund never refunds twice. */
  idempotencyKey: string;
  reason?: 'requested_by_customer' | 'duplicate' | 'fraudulent';
  metadata: Record<string, string>;
}

/**
 * What Stripe said to a refund: `sent` (Stripe has it: its status may still be pending at the bank)
 * or `rejected` for good (a 4xx such as charge_already_refunded: the same request will never pass).
 * "Unreachable, 5xx, rate-limited" is not an outcome: it is thrown as PaymentProviderError.
 */
export type RefundOutcome =
  | { kind: 'sent'; refundId: string; status: string }
  | { kind: 'rejected'; code: string; message: string };

export interface Payments {
  /** Creates and confirms a PaymentIntent; the idempotency key is derived from the order id. */
  charge(request: ChargeRequest): Promise<PaymentOutcome>;
  /** The PaymentIntent an earlier attempt made for this order, if any. */
  findCharge(orderId: string, paymentIntentId: string | null): Promise<PaymentOutcome | null>;
  /** Cancels the PaymentIntent (idempotency key from the order id), or says why it cannot be. */
  cancel(request: CancelRequest): Promise<CancelOutcome>;
  refund(request: RefundRequest): Promise<RefundOutcome>;
  /** The refund Stripe made for our refund row `refundId` (metadata.refund_id) on this PaymentIntent, if any. */
  findRefund(paymentIntentId: string, refundId: string): Promise<{ refundId: string; status: string } | null>;
}

/** Stripe could not be reached, timed out, or answered 5xx: nothing is known, retry later. */
export class PaymentProviderError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'PaymentProviderError';
  }
}
