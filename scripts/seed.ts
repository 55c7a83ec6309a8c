/**
 * `npm run db:seed`: a small demo catalogue with stock, for local runs. Idempotent: prices and stock
 * are set back to these figures each time. Stock is set by the code behind the operators' stock
 * adjustments (setStockTo): a difference is a stock_adjustments row, and the Redis mirror moves with it.
 */
import { config } from '../lib/config';
import { createPoolDb } from '../lib/db';
import { setStockTo } from '../lib/inventory/stock-adjustments';
import { createRedis } from '../lib/redis';

export const DEMO_PRODUCTS = [
  { id: 'sku_mug', name: 'Enamel mug', priceCents: 1500, currency: 'usd', stock: 100 },
  { id: 'sku_tee', name: 'Organic cotton tee', priceCents: 2599, currency: 'usd', stock: 50 },
  { id: 'sku_poster', name: 'Risograph poster', priceCents: 3200, currency: 'usd', stock: 20 },
  { id: 'sku_last', name: 'Signed print (one left)', priceCents: 9900, currency: 'usd', stock: 1 },
] as const;

async function main(): Promise<void> {
  const cfg = config();
  const db = createPoolDb(cfg.databaseUrl, 1);
  const redis = createRedis(cfg.redisUrl);
  try {
    for (const p of DEMO_PRODUCTS) {
      await db.query(
        `INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency`,
        [p.id, p.name, p.priceCents, p.currency],
      );
      await setStockTo(db, redis, p.id, p.stock, 'npm run db:seed');
    }
    process.stdout.write(
      `seeded ${DEMO_PRODUCTS.length} products: ${DEMO_PRODUCTS.map((p) => `${p.id} (${p.stock})`).join(', ')}\n`,
    );
  } finally {
    await db.end();
    redis.disconnect();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`seed failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
