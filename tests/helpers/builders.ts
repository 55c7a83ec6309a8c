import { randomUUID } from 'node:crypto';
import { availableStock } from '../../lib/inventory/reservations';
import { keys } from '../../lib/keys';
import { db, redis } from './harness';

export interface GivenProduct {
  id: string;
  priceCents: number;
  currency: string;
}

/** A product with stock, inside the test's transaction. */
export async function givenProduct(
  o: { id?: string; priceCents?: number; currency?: string; stock?: number } = {},
): Promise<GivenProduct> {
  const product = {
    id: o.id ?? `sku_${randomUUID().slice(0, 8)}`,
    priceCents: o.priceCents ?? 1999,
    currency: o.currency ?? 'usd',
  };
  await db().query('INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $2, $3, $4)', [
    product.id,
    `Product ${product.id}`,
    product.priceCents,
    product.currency,
  ]);
  await db().query('INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)', [product.id, o.stock ?? 10]);
  return product;
}

export async function inventoryOf(productId: string): Promise<number> {
  const { rows } = await db().query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1', [
    productId,
  ]);
  return rows[0]?.quantity ?? NaN;
}

export async function availableOf(productId: string): Promise<number> {
  return (await availableStock(redis(), db(), [productId])).get(productId) ?? NaN;
}

export async function orderRow(orderId: string) {
  const { rows } = await db().query<Record<string, unknown>>('SELECT * FROM orders WHERE id = $1', [orderId]);
  return rows[0];
}

export async function countRows(table: 'orders' | 'order_items' | 'refunds' | 'refund_items'): Promise<number> {
  const { rows } = await db().query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(rows[0]?.n);
}

export async function holdOf(orderId: string): Promise<Record<string, string>> {
  return redis().hgetall(keys.reservation(orderId));
}

export async function idempotencyRecord(key: string): Promise<unknown> {
  const raw = await redis().get(keys.idempotency(key));
  return raw === null ? null : JSON.parse(raw);
}

/**
 * held:{p}: the live holds on a product as the hold script counts them (0 once the key is gone).
 * The reservation hash of an order is deleted by every settle, whatever it released; this counter
 * is what keeps stock from being held again, so "the hold was released" is asserted here.
 */
export async function heldOf(productId: string): Promise<number> {
  return Number((await redis().get(keys.held(productId))) ?? 0);
}

/** stock:{p}: the stock mirror the hold script reads (null: not loaded). */
export async function mirrorOf(productId: string): Promise<number | null> {
  const raw = await redis().get(keys.stock(productId));
  return raw === null ? null : Number(raw);
}
