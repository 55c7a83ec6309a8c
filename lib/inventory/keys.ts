/** Redis key names: the contract's (reservation:, idempotency:, stripe:event:) and the inventory's own. */
export const keys = {
  /** Hash productId -> quantity held for one order, with the reservation TTL. */
  reservation: (orderId: string) => `reservation:${orderId}`,
  /** Mirror of inventory.quantity, read by the reserve script; reloaded from PostgreSQL when missing. */
  stock: (productId: string) => `stock:${productId}`,
  /** Sum of the live holds on one product. */
  held: (productId: string) => `held:${productId}`,
  /** The live holds on one product: member `orderId|quantity`, score = expiry in ms (server clock). */
  holds: (productId: string) => `holds:${productId}`,
  idempotency: (key: string) => `idempotency:${key}`,
  stripeEvent: (eventId: string) => `stripe:event:${eventId}`,
};
