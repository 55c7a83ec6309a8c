import { z } from 'zod';
import type { Db } from '../db';
import { InvalidRequestError } from '../errors';
import { idSchema, UUID } from '../schemas';
import { parseOrThrow } from '../validation';
import type { OrderStatus } from './order-store';
import type { OrderView } from './order-view';

/**
 * GET /orders (operator): orders newest first, filtered, paged by keyset.
 *
 * Order and pages. Rows come by (created_at DESC, id DESC), a total order: id breaks created_at
 * ties, and ties are real (created_at is now(), the inserting transaction's start, to the
 * microsecond). The cursor is the last row's exact (created_at, id) and the next page is the rows
 * strictly after it in that order: no offset, so an order inserted between two page requests never
 * shifts a later page nor repeats a row, and a walk returns each order at most once.
 *
 * What a walk sees of orders inserted while it runs. created_at is when the inserting transaction
 * began, not when it committed, so an order can become visible after rows newer than it were
 * returned (its insert was slow: a lock wait on its Idempotency-Key, a paused container). Decided:
 * no horizon, no commit sequence; such an order is shown where its created_at puts it. Older than
 * the cursor (the usual case: the cursor is a page old, an insert is one statement) it shows on a
 * later page, once, in its place; newer than the cursor it is behind the walk, as every order placed
 * after the walk began is. So a walk returns, exactly once each, every order committed before its
 * first page, and never a row twice; a list that must miss nothing walks again from the top.
 * (tests/integration/list-orders.test.ts shows both, with a real open transaction.)
 *
 * Each filter has an index ending in (created_at DESC, id DESC) (db/migrations/1733600000000_order-listing.sql);
 * productId goes through the lines' copy of their order's created_at, so a page is a Limit over one
 * index range whatever the filter, and a deep page costs what the first does.
 */

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

const STATUSES = ['pending', 'paid', 'failed', 'refunded', 'canceled'] as const satisfies readonly OrderStatus[];

/** A page position: the last row's created_at to the microsecond (PostgreSQL's precision) and id. */
interface Cursor {
  createdAt: string;
  id: string;
}

const CURSOR_TEXT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/;

/** Opaque to clients: base64url of `<created_at>|<id>`. Not signed: a forged one only moves the page. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.createdAt}|${cursor.id}`).toString('base64url');
}

export function decodeCursor(raw: string): Cursor | null {
  // Node's base64url decoder skips characters it does not know: insist on the canonical spelling.
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) return null;
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  if (Buffer.from(text).toString('base64url') !== raw) return null;
  const [, createdAt, id] = CURSOR_TEXT.exec(text) ?? [];
  if (!createdAt || !id || !UUID.test(id) || !isRealTime(createdAt)) return null;
  return { createdAt, id };
}

/** A time that exists (no 30 February, no hour 24): what Date makes of it reads back the same to the millisecond. */
function isRealTime(text: string): boolean {
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 23) === text.slice(0, 23);
}

const dateTime = (label: string) =>
  z.iso.datetime({
    offset: true,
    error: `${label} must be an ISO 8601 date-time with a time zone, e.g. 2024-12-01T00:00:00Z`,
  });

const listQuerySchema = z
  .strictObject({
    status: z.enum(STATUSES, { error: `status must be one of ${STATUSES.join(', ')}` }).optional(),
    customerId: idSchema('customerId').optional(),
    productId: idSchema('productId').optional(),
    /** Inclusive. */
    createdFrom: dateTime('createdFrom').optional(),
    /** Exclusive: day after day, `createdFrom=D&createdTo=D+1` never lists an order twice. */
    createdTo: dateTime('createdTo').optional(),
    limit: z
      .string()
      .regex(/^\d{1,3}$/, `limit must be a whole number from 1 to ${MAX_LIMIT}`)
      .transform(Number)
      .pipe(z.number().min(1, 'limit must be at least 1').max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`))
      .optional(),
    cursor: z
      .string()
      .transform((raw, ctx) => {
        const cursor = decodeCursor(raw);
        if (!cursor) ctx.addIssue({ code: 'custom', message: 'cursor is not one this service gave out' });
        return cursor ?? z.NEVER;
      })
      .optional(),
  })
  .refine((q) => !q.createdFrom || !q.createdTo || Date.parse(q.createdFrom) < Date.parse(q.createdTo), {
    path: ['createdTo'],
    message: 'createdTo must be later than createdFrom (createdFrom is inclusive, createdTo exclusive)',
  });

export type ListQuery = z.infer<typeof listQuerySchema>;

const PARAMETERS = new Set(Object.keys(listQuerySchema.shape));

/**
 * The query string as API Gateway hands it over (payload 2.0 joins a repeated parameter with commas;
 * 1.0 also gives every value in `multi`). An unknown or repeated parameter is refused by name.
 */
export function parseListQuery(
  params: Record<string, string | undefined> | null | undefined,
  multi?: Record<string, string[] | undefined> | null,
): ListQuery {
  const query = params ?? {};
  for (const name of Object.keys(query)) {
    if (!PARAMETERS.has(name)) {
      throw new InvalidRequestError(`unknown query parameter ${name.slice(0, 100)}`, { field: name.slice(0, 100) });
    }
  }
  for (const [name, values] of Object.entries(multi ?? {})) {
    if ((values?.length ?? 0) > 1) throw new InvalidRequestError(`${name} may be given once`, { field: name });
  }
  return parseOrThrow(listQuerySchema, query);
}

export interface ListedOrder extends Pick<OrderView, 'id' | 'status' | 'amountCents' | 'currency' | 'paymentIntentId'> {
  items: OrderView['items'];
  customerId: string;
  createdAt: string;
}

export interface OrderPage {
  orders: ListedOrder[];
  nextCursor: string | null;
}

interface ListedRow {
  id: string;
  status: OrderStatus;
  amount_cents: number;
  currency: string;
  payment_intent_id: string | null;
  customer_id: string;
  created_at: Date;
  cursor_at: string;
  items: OrderView['items'] | null;
}

/** The base order of GET /orders/{orderId}, without refunds, dispute or history: one index probe per row. */
const COLUMNS = `o.id, o.status, o.amount_cents, o.currency, o.payment_intent_id, o.customer_id, o.created_at,
  to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at,
  (SELECT json_agg(json_build_object('productId', i.product_id, 'quantity', i.quantity,
     'unitPriceCents', i.unit_price_cents) ORDER BY i.product_id)
     FROM order_items i WHERE i.order_id = o.id) AS items`;

/**
 * The statement for the filters given: only their conditions, so each can use its index (a
 * `$1 IS NULL OR ...` would keep a generic plan off every index). At most 2^6 texts, each named once.
 * Exported for `npm run db:generate-orders -- --explain`, which shows each one's plan.
 */
export function listStatement(query: ListQuery, limit: number): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const param = (value: unknown, type = '') => {
    params.push(value);
    return `$${params.length}${type}`;
  };
  // With productId, the keyset is the line's copy of its order's created_at (same value, indexed with it).
  const [at, id] = query.productId === undefined ? ['o.created_at', 'o.id'] : ['f.order_created_at', 'f.order_id'];
  const where: string[] = [];
  if (query.productId !== undefined) where.push(`f.product_id = ${param(query.productId)}`);
  if (query.status !== undefined) where.push(`o.status = ${param(query.status)}`);
  if (query.customerId !== undefined) where.push(`o.customer_id = ${param(query.customerId)}`);
  if (query.createdFrom !== undefined) where.push(`${at} >= ${param(query.createdFrom, '::timestamptz')}`);
  if (query.createdTo !== undefined) where.push(`${at} < ${param(query.createdTo, '::timestamptz')}`);
  if (query.cursor !== undefined) {
    where.push(
      `(${at}, ${id}) < (${param(query.cursor.createdAt, '::timestamptz')}, ${param(query.cursor.id, '::uuid')})`,
    );
  }
  const from = query.productId === undefined ? 'orders o' : 'order_items f JOIN orders o ON o.id = f.order_id';
  const text = `SELECT ${COLUMNS} FROM ${from}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${at} DESC, ${id} DESC LIMIT ${param(limit + 1)}`;
  return { text, params };
}

/** One page, newest first; one row more than asked is read to know whether another page follows. */
export async function listOrders(db: Db, query: ListQuery): Promise<OrderPage> {
  const limit = query.limit ?? DEFAULT_LIMIT;
  const { text, params } = listStatement(query, limit);
  const { rows } = await db.query<ListedRow>(text, params);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    orders: page.map((r) => ({
      id: r.id,
      status: r.status,
      amountCents: r.amount_cents,
      currency: r.currency,
      paymentIntentId: r.payment_intent_id,
      items: r.items ?? [],
      customerId: r.customer_id,
      createdAt: r.created_at.toISOString(),
    })),
    nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.cursor_at, id: last.id }) : null,
  };
}
