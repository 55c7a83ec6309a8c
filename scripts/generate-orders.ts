/**
 * `npm run db:generate-orders -- [count]`: fills DATABASE_URL (migrated first: `npm run db:migrate`)
 * with `count` made-up orders (default 1,000,000) and their lines, to see how GET /orders performs
 * on a large table. `npm run db:generate-orders -- --explain` then prints EXPLAIN (ANALYZE, BUFFERS)
 * of the listing's own statements (lib/orders/list-orders.ts listStatement), first and deep pages,
 * each filter alone and combined, and the plan the service's prepared statement settles on.
 *
 * Only for a database of its own: it refuses one whose name does not contain "explain"
 * (e.g. postgres://postgres@127.0.0.1:5432/orders_explain).
 *
 * The data: 1000 products (`gen_sku_0001`, on ~20% of orders, is popular; `gen_sku_rare` on 1 in
 * 20,000), 1-3 lines more per order; 20,000 customers; statuses 70% paid, 10% failed, 7% refunded,
 * 8% canceled, 5% pending; one order every ~31 s over a year, two at a time sharing created_at.
 */
import { config } from '../lib/config';
import { createPoolDb, type PoolDb } from '../lib/db';
import { decodeCursor, encodeCursor, type ListQuery, listStatement } from '../lib/orders/list-orders';

const BATCH = 100_000;

async function generate(db: PoolDb, count: number): Promise<void> {
  await db.query(
    `INSERT INTO products (id, name, price_cents, currency)
     SELECT CASE WHEN p = 0 THEN 'gen_sku_rare' ELSE 'gen_sku_' || lpad(p::text, 4, '0') END, 'Generated ' || p,
            100 + p * 7, 'usd'
       FROM generate_series(0, 1000) p
     ON CONFLICT (id) DO NOTHING`,
  );
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM orders WHERE idempotency_key LIKE 'gen-%'`);
  const start = Number(rows[0]?.n ?? 0);
  for (let from = start; from < count; from += BATCH) {
    const to = Math.min(count, from + BATCH) - 1;
    const began = Date.now();
    await db.transaction(async (tx) => {
      await tx.query(
        `WITH o AS (
           INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status,
                               amount_cents, currency, payment_intent_id, created_at, updated_at)
           SELECT gen_random_uuid(), 'gen-' || n, 'gen', 'cus_gen_' || (n * 7919 % 20000), 'pm_card_visa',
                  CASE WHEN n % 100 < 70 THEN 'paid' WHEN n % 100 < 80 THEN 'failed' WHEN n % 100 < 87 THEN 'refunded'
                       WHEN n % 100 < 95 THEN 'canceled' ELSE 'pending' END,
                  1000 + n % 5000, 'usd', 'pi_gen_' || n,
                  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (n / 2) * 31.5),
                  timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (n / 2) * 31.5)
             FROM generate_series($1::bigint, $2::bigint) n
           RETURNING id, substr(idempotency_key, 5)::bigint AS n
         )
         INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
         SELECT o.id, l.product_id, 1 + o.n % 3, 100
           FROM o, LATERAL (
             SELECT 'gen_sku_' || lpad((2 + (o.n * 31 + k * 997) % 999)::text, 4, '0') AS product_id
               FROM generate_series(1, 1 + o.n % 3) k
             UNION ALL SELECT 'gen_sku_0001' WHERE o.n % 5 = 0
             UNION ALL SELECT 'gen_sku_rare' WHERE o.n % 20000 = 7
           ) l`,
        [from, to],
      );
    });
    process.stdout.write(`orders ${from}..${to} in ${Date.now() - began} ms\n`);
  }
  await db.query('ANALYZE orders');
  await db.query('ANALYZE order_items');
}

let prepared = 0;

/** Keeps the plan's lines and its timings; drops nothing else EXPLAIN says. */
async function explain(db: PoolDb, label: string, query: ListQuery): Promise<void> {
  const { text, params } = listStatement(query, query.limit ?? 20);
  const plan = async () =>
    (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params)).rows
      .map((r) => r['QUERY PLAN'])
      .join('\n');
  // Twice: the first run reads pages from disk into shared buffers, the second is the steady state.
  await plan();
  const custom = await plan();
  // As the service runs it: a named prepared statement, which PostgreSQL may switch to one generic
  // plan for any values after its fifth execution. EXECUTE takes no bind parameters: the values go
  // in as literals (this script's own, never a user's).
  const generic = await db.transaction(async (tx) => {
    const name = `listing_${++prepared}`;
    await tx.query(`PREPARE ${name} AS ${text}`);
    const execute = `EXECUTE ${name}(${params.map((v) => `'${String(v).replaceAll("'", "''")}'`).join(', ')})`;
    for (let i = 0; i < 6; i += 1) await tx.query(execute);
    const { rows } = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${execute}`);
    await tx.query(`DEALLOCATE ${name}`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
  process.stdout.write(`\n### ${label}\n\`\`\`\n${JSON.stringify(shown(query))}\n${custom}\n\`\`\`\n`);
  if (shape(generic) !== shape(custom)) {
    process.stdout.write(`as a prepared statement after 6 runs:\n\`\`\`\n${generic}\n\`\`\`\n`);
  } else process.stdout.write('(the same plan as a prepared statement after 6 runs)\n');
}

/** The plan's nodes without their figures: two plans of one shape read the same rows the same way. */
const shape = (plan: string) =>
  plan
    .split('\n')
    .filter((l) => l.includes('(cost='))
    .map((l) => l.replace(/\(cost=.*$/, '').trim())
    .join('|');

const shown = (query: ListQuery) => ({ ...query, cursor: query.cursor ? encodeCursor(query.cursor) : undefined });

/** The cursor GET /orders hands out after `offset` rows of the listing (found the slow way, once). */
async function cursorAfter(db: PoolDb, offset: number, where = 'TRUE', params: unknown[] = []) {
  const { rows } = await db.query<{ at: string; id: string }>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, id FROM orders
      WHERE ${where} ORDER BY created_at DESC, id DESC OFFSET ${offset} LIMIT 1`,
    params,
  );
  const row = rows[0];
  if (!row) throw new Error(`no row at offset ${offset}`);
  return decodeCursor(encodeCursor({ createdAt: row.at, id: row.id })) ?? undefined;
}

async function explainAll(db: PoolDb): Promise<void> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders');
  process.stdout.write(`orders: ${rows[0]?.n}\n`);
  const customerId = 'cus_gen_4242';
  const deep = await cursorAfter(db, 500_000);
  await explain(db, 'no filter, first page', {});
  await explain(db, 'no filter, page after 500,000 orders', { cursor: deep });
  await explain(db, 'status=refunded, first page', { status: 'refunded' });
  await explain(db, 'status=refunded, deep page', {
    status: 'refunded',
    cursor: await cursorAfter(db, 30_000, `status = 'refunded'`),
  });
  await explain(db, 'status=pending, limit 100', { status: 'pending', limit: 100 });
  await explain(db, 'status=pending, deep page', {
    status: 'pending',
    cursor: await cursorAfter(db, 20_000, `status = 'pending'`),
  });
  await explain(db, 'customerId, first page', { customerId });
  await explain(db, 'customerId, second page', {
    customerId,
    cursor: await cursorAfter(db, 20, 'customer_id = $1', [customerId]),
  });
  await explain(db, 'productId (popular, ~20% of orders), first page', { productId: 'gen_sku_0001' });
  await explain(db, 'productId (popular), page after 100,000 of its orders', {
    productId: 'gen_sku_0001',
    cursor: await cursorAfter(
      db,
      100_000,
      `EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = orders.id AND i.product_id = 'gen_sku_0001')`,
    ),
  });
  await explain(db, 'productId (~0.2% of orders), first page', { productId: 'gen_sku_0500' });
  await explain(db, 'productId (rare, 1 in 20,000), first page', { productId: 'gen_sku_rare' });
  await explain(db, 'createdFrom + createdTo (one day)', {
    createdFrom: '2025-06-01T00:00:00Z',
    createdTo: '2025-06-02T00:00:00Z',
  });
  await explain(db, 'status + customerId', { status: 'paid', customerId });
  const march = { createdFrom: '2025-03-01T00:00:00Z', createdTo: '2025-04-01T00:00:00Z' };
  await explain(db, 'status + createdFrom + createdTo (a month), page after 20,000 of them', {
    status: 'paid',
    ...march,
    cursor: await cursorAfter(db, 20_000, `status = 'paid' AND created_at >= $1 AND created_at < $2`, [
      march.createdFrom,
      march.createdTo,
    ]),
  });
  await explain(db, 'productId + status', { productId: 'gen_sku_0500', status: 'paid' });
  await explain(db, 'productId + customerId', { productId: 'gen_sku_0001', customerId });
}

async function main(): Promise<void> {
  const cfg = config();
  const name = new URL(cfg.databaseUrl).pathname.slice(1);
  if (!name.includes('explain')) {
    throw new Error(`refusing to fill database "${name}": use one of its own, its name containing "explain"`);
  }
  const db = createPoolDb(cfg.databaseUrl, 1, { preparedStatements: false });
  try {
    const args = process.argv.slice(2);
    if (args.includes('--explain')) await explainAll(db);
    else await generate(db, Number(args[0] ?? 1_000_000));
  } finally {
    await db.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`generate-orders failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
