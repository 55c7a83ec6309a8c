import {
  AmountTooLargeError,
  type DomainError,
  errorBody,
  IdempotencyKeyMismatchError,
  InsufficientInventoryError,
  InvalidSignatureError,
  MixedCurrencyError,
  OrderNotFoundError,
  OrderNotRefundableError,
  PayloadTooLargeError,
  PaymentDeclinedError,
  RefundQuantityExceededError,
  RefundRejectedError,
  UnknownProductError,
} from '../../lib/errors';

/**
 * Written for mutation testing (MUTATION.md): the message of every error body a client can get. A
 * storefront shows it, an operator reads it in the refund tool: it must say what went wrong and
 * name what it is about, next to the stable code and the details.
 */
describe('error bodies: { error: { code, message, ...details } } with a message that names what it is about', () => {
  test.each<[string, DomainError, Record<string, unknown>]>([
    [
      'unknown_product',
      new UnknownProductError('sku-x'),
      { code: 'unknown_product', message: 'no product sku-x', productId: 'sku-x' },
    ],
    [
      'mixed_currency',
      new MixedCurrencyError(['usd', 'eur']),
      {
        code: 'mixed_currency',
        message: 'all items of an order must share one currency (got usd, eur)',
        currencies: ['usd', 'eur'],
      },
    ],
    [
      'idempotency_key_mismatch',
      new IdempotencyKeyMismatchError(),
      {
        code: 'idempotency_key_mismatch',
        message: 'this Idempotency-Key was already used with another request body',
      },
    ],
    [
      'insufficient_inventory',
      new InsufficientInventoryError('order-1', 'sku-a'),
      { code: 'insufficient_inventory', message: 'not enough stock of sku-a', orderId: 'order-1', productId: 'sku-a' },
    ],
    [
      'payment_declined without a message from Stripe',
      new PaymentDeclinedError('order-1', 'insufficient_funds'),
      {
        code: 'payment_declined',
        message: 'the payment was declined',
        orderId: 'order-1',
        declineCode: 'insufficient_funds',
      },
    ],
    [
      'order_not_found',
      new OrderNotFoundError('order-1'),
      { code: 'order_not_found', message: 'no order order-1', orderId: 'order-1' },
    ],
    [
      'order_not_refundable',
      new OrderNotRefundableError('order-1', 'pending'),
      {
        code: 'order_not_refundable',
        message: 'order order-1 is pending; only paid orders can be refunded',
        orderId: 'order-1',
        status: 'pending',
      },
    ],
    [
      'refund_quantity_exceeded',
      new RefundQuantityExceededError('sku-a', 2),
      {
        code: 'refund_quantity_exceeded',
        message: 'at most 2 of sku-a can still be refunded',
        productId: 'sku-a',
        refundable: 2,
      },
    ],
    [
      'invalid_signature',
      new InvalidSignatureError(),
      { code: 'invalid_signature', message: 'the Stripe-Signature header does not match the body' },
    ],
    [
      'payload_too_large',
      new PayloadTooLargeError(65_536),
      { code: 'payload_too_large', message: 'the body is larger than 65536 bytes', limitBytes: 65_536 },
    ],
    [
      'refund_rejected',
      new RefundRejectedError('order-1', 'refund-1', 'charge_already_refunded', 'the charge was refunded already'),
      {
        code: 'refund_rejected',
        message: 'Stripe refused the refund: the charge was refunded already',
        orderId: 'order-1',
        refundId: 'refund-1',
        providerCode: 'charge_already_refunded',
      },
    ],
    [
      'amount_too_large',
      new AmountTooLargeError(100_000_000),
      {
        code: 'amount_too_large',
        message: 'the order total 100000000 is above the largest amount a card payment may have (99999999)',
        amountCents: 100_000_000,
        maxAmountCents: 99_999_999,
      },
    ],
  ])('%s', (_, error, body) => {
    expect(errorBody(error)).toEqual({ error: body });
  });
});
