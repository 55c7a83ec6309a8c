/**
 * Errors a client can act on. Each has a stable `code`; lib/http.ts maps them to HTTP once. A use
 * case throws them for refusals that are not final (bad input, a dependency down, a key in use):
 * nothing is stored, and a retry runs again. Final refusals that an Idempotency-Key replays (a
 * decline, no stock) are answers: the use case returns them (see lib/orders/create-order-answer.ts).
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Extra fields for the error body, e.g. { productId }. */
  readonly details: Record<string, unknown>;
  /** Extra response headers, e.g. Retry-After. */
  readonly headers: Record<string, string> = {};

  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }
}

export class InvalidRequestError extends DomainError {
  readonly code = 'invalid_request';
  readonly status = 400;
}

export class IdempotencyKeyRequiredError extends DomainError {
  readonly code = 'idempotency_key_required';
  readonly status = 400;
  constructor() {
    super('the Idempotency-Key header is required', { field: 'Idempotency-Key' });
  }
}

export class UnknownProductError extends DomainError {
  readonly code = 'unknown_product';
  readonly status = 422;
  constructor(productId: string) {
    super(`no product ${productId}`, { productId });
  }
}

export class MixedCurrencyError extends DomainError {
  readonly code = 'mixed_currency';
  readonly status = 422;
  constructor(currencies: string[]) {
    super(`all items of an order must share one currency (got ${currencies.join(', ')})`, { currencies });
  }
}

export class IdempotencyKeyMismatchError extends DomainError {
  readonly code = 'idempotency_key_mismatch';
  readonly status = 422;
  constructor() {
    super('this Idempotency-Key was already used with another request body');
  }
}

export class IdempotencyInProgressError extends DomainError {
  readonly code = 'idempotency_in_progress';
  readonly status = 409;
  constructor(retryAfterSeconds: number) {
    super('a request with this Idempotency-Key is still being processed');
    this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

export class InsufficientInventoryError extends DomainError {
  readonly code = 'insufficient_inventory';
  readonly status = 409;
  constructor(orderId: string, productId: string) {
    super(`not enough stock of ${productId}`, { orderId, productId });
  }
}

export class PaymentDeclinedError extends DomainError {
  readonly code = 'payment_declined';
  readonly status = 402;
  constructor(orderId: string, declineCode: string | null, message = 'the payment was declined') {
    super(message, { orderId, declineCode });
  }
}

/** Seconds a client should wait before retrying while Stripe is unavailable. */
export const PROVIDER_RETRY_AFTER_SECONDS = 2;

export class PaymentProviderUnavailableError extends DomainError {
  readonly code = 'payment_provider_unavailable';
  readonly status = 503;
  constructor(details: Record<string, unknown> = {}, retryAfterSeconds = PROVIDER_RETRY_AFTER_SECONDS) {
    super('the payment provider could not be reached; retry with the same Idempotency-Key', details);
    this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

export class OrderNotFoundError extends DomainError {
  readonly code = 'order_not_found';
  readonly status = 404;
  constructor(orderId: string) {
    super(`no order ${orderId}`, { orderId });
  }
}

export class ProductNotFoundError extends DomainError {
  readonly code = 'product_not_found';
  readonly status = 404;
  constructor(productId: string) {
    super(`no product ${productId}`, { productId });
  }
}

/** A stock adjustment that would leave less than nothing on hand: refused, nothing written. */
export class StockBelowZeroError extends DomainError {
  readonly code = 'stock_below_zero';
  readonly status = 409;
  constructor(productId: string, quantity: number, delta: number) {
    super(`${productId} has ${quantity} on hand; a delta of ${delta} would take it below 0`, {
      productId,
      quantity,
      delta,
    });
  }
}

export class OrderNotRefundableError extends DomainError {
  readonly code = 'order_not_refundable';
  readonly status = 409;
  constructor(orderId: string, status: string) {
    super(`order ${orderId} is ${status}; only paid orders can be refunded`, { orderId, status });
  }
}

/**
 * The order cannot be canceled: it is past canceling (failed, refunded, canceled), its payment is
 * still `processing` at Stripe, or a payment attempt is running on it now (`retryAfterSeconds`).
 */
export class OrderNotCancelableError extends DomainError {
  readonly code = 'order_not_cancelable';
  readonly status = 409;
  constructor(orderId: string, status: string, message?: string, retryAfterSeconds?: number) {
    super(message ?? `order ${orderId} is ${status}; only pending and paid orders can be canceled`, {
      orderId,
      status,
    });
    if (retryAfterSeconds !== undefined) this.headers['Retry-After'] = String(retryAfterSeconds);
  }
}

export class RefundQuantityExceededError extends DomainError {
  readonly code = 'refund_quantity_exceeded';
  readonly status = 422;
  constructor(productId: string, refundable: number) {
    super(`at most ${refundable} of ${productId} can still be refunded`, { productId, refundable });
  }
}

/**
 * The refund asks for more money than is left on the order: refunds made outside the service (the
 * Stripe dashboard, money only) count against it. Stripe is never asked for more than is left.
 */
export class RefundAmountExceededError extends DomainError {
  readonly code = 'refund_amount_exceeded';
  readonly status = 422;
  constructor(orderId: string, requestedCents: number, refundableCents: number) {
    super(`at most ${refundableCents} can still be refunded on order ${orderId}`, {
      orderId,
      requestedCents,
      refundableCents,
    });
  }
}

export class InvalidSignatureError extends DomainError {
  readonly code = 'invalid_signature';
  readonly status = 401;
  constructor() {
    super('the Stripe-Signature header does not match the body');
  }
}

export class PayloadTooLargeError extends DomainError {
  readonly code = 'payload_too_large';
  readonly status = 413;
  constructor(limitBytes: number) {
    super(`the body is larger than ${limitBytes} bytes`, { limitBytes });
  }
}

/**
 * Stripe refused the refund for good (a 4xx: e.g. charge_already_refunded when the money was given
 * back from the Stripe dashboard). The refund row is `failed` with Stripe's code; nothing was
 * refunded by it and no stock moved, so the order can be refunded again once the cause is known.
 */
export class RefundRejectedError extends DomainError {
  readonly code = 'refund_rejected';
  readonly status = 409;
  constructor(orderId: string, refundId: string, providerCode: string, message: string) {
    super(`Stripe refused the refund: ${message}`, { orderId, refundId, providerCode });
  }
}

/** Seconds to wait before retrying when PostgreSQL or Redis cannot serve now. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 1;

/** PostgreSQL or Redis cannot serve now (unreachable, too many connections, shutting down, ...). */
export class ServiceUnavailableError extends DomainError {
  readonly code = 'service_unavailable';
  readonly status = 503;
  constructor() {
    super('a backing service is unavailable; retry');
    this.headers['Retry-After'] = String(DEPENDENCY_RETRY_AFTER_SECONDS);
  }
}

/** Anything unforeseen: a bug. Its details are logged, never answered. */
export class InternalError extends DomainError {
  readonly code = 'internal_error';
  readonly status = 500;
  constructor() {
    super('internal error');
  }
}

/** Stripe's largest amount for a card charge in most currencies (99,999,999 minor units). */
export const MAX_AMOUNT_CENTS = 99_999_999;

export class AmountTooLargeError extends DomainError {
  readonly code = 'amount_too_large';
  readonly status = 422;
  constructor(amountCents: number) {
    super(`the order total ${amountCents} is above the largest amount a card payment may have (${MAX_AMOUNT_CENTS})`, {
      amountCents,
      maxAmountCents: MAX_AMOUNT_CENTS,
    });
  }
}

/** The contract's error body: `{ "error": { "code", "message", ...details } }`. */
export function errorBody(error: DomainError): { error: Record<string, unknown> } {
  return { error: { code: error.code, message: error.message, ...error.details } };
}
