/**
 * Every Redis key the service uses, in one place: the contract's (reservation:, idempotency:,
 * stripe:event:) and the inventory's own (stock:, held:, holds:).
 */
export const keys = {
  /** Hash productId -> quantity held for one order, with the reservation TTL. */
  reservation: (orderId: string) => `reservation:${orderId}`,
  /** Mirror of inventory.quantity, read by the hold scripts; reloaded from PostgreSQL when missing. */
  stock: (productId: string) => `stock:${productId}`,
  /** Sum of the live holds on one product. */
  held: (productId: string) => `held:${productId}`,
  /** The live holds on one product: member `orderId|quantity`, score = expiry in ms (server clock). */
  holds: (productId: string) => `holds:${productId}`,
  /** The stored answer of a POST /orders: the caller's Idempotency-Key itself. */
  idempotency: (key: string) => `idempotency:${key}`,
  /**
   * The stored answer of a refund: route, order and the caller's key, separated by spaces. A
   * caller's key is visible ASCII (no spaces) and so is an order id, so this can never be the key of
   * another order's refund nor of a POST /orders.
   */
  refundIdempotency: (orderId: string, callerKey: string) => `idempotency:refund ${orderId} ${callerKey}`,
  /** The stored answer of an operator's cancel, spelled like a refund's (see refundIdempotency). */
  cancelIdempotency: (orderId: string, callerKey: string) => `idempotency:cancel ${orderId} ${callerKey}`,
  /** The stored answer of a stock adjustment, spelled like a refund's (see refundIdempotency). */
  stockAdjustmentIdempotency: (productId: string, callerKey: string) =>
    `idempotency:stock-adjustment ${productId} ${callerKey}`,
  stripeEvent: (eventId: string) => `stripe:event:${eventId}`,
};
