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
  | { kind: 'declined'; paymentIntentId: string | null; declineCode: string | null; message: string };

export interface RefundRequest {
  paymentIntentId: string;
  amountCents: number;
  /** Derived from our own refund row, so a retried refund never refunds twice. */
  idempotencyKey: string;
  reason?: 'requested_by_customer' | 'duplicate' | 'fraudulent';
  metadata: Record<string, string>;
}

export interface Payments {
  /** Creates and confirms a PaymentIntent; the idempotency key is derived from the order id. */
  charge(request: ChargeRequest): Promise<PaymentOutcome>;
  /** The PaymentIntent an earlier attempt made for this order, if any. */
  findCharge(orderId: string, paymentIntentId: string | null): Promise<PaymentOutcome | null>;
  refund(request: RefundRequest): Promise<{ refundId: string }>;
}

/** Stripe could not be reached, timed out, or answered 5xx: nothing is known, retry later. */
export class PaymentProviderError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'PaymentProviderError';
  }
}
