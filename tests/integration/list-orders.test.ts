import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { listOrdersHandler } from '../../handlers/list-orders';
import { createPoolDb } from '../../lib/db';
import { encodeCursor } from '../../lib/orders/list-orders';
import type { OrderStatus } from '../../lib/orders/order-store';
import { testEnvironment } from '../../scripts/test-environment';
import { givenProduct } from '../helpers/builders';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { db, testDeps } from '../helpers/harness';
import { getOrder, postOrder, stripeAnswers } from '../helpers/orders';

/** GET /orders through the real handler; `multi` as a REST API (payload 1.0) event carries it. */
function list(
  query: Record<string, string> = {},
  o: { multi?: Record<string, string[]>; deps?: Parameters<typeof listOrdersHandler>[0] } = {},
): Promise<Response> {
  const event = {
    ...apiGatewayEvent({ method: 'GET', path: '/orders', routeKey: 'GET /orders' }),
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: Object.keys(query).length > 0 ? query : undefined,
    ...(o.multi ? { multiValueQueryStringParameters: o.multi } : {}),
  };
  return invoke(listOrdersHandler(o.deps ?? (() => testDeps())), event);
}

/** Every page of a listing, following nextCursor until it is null. */
async function walk(query: Record<string, string>): Promise<Response[]> {
  const pages: Response[] = [];
  let cursor: string | null = null;
  do {
    const page = await list(cursor ? { ...query, cursor } : query);
    expect(page.statusCode).toBe(200);
    pages.push(page);
    cursor = page.body.nextCursor;
  } while (cursor && pages.length < 20);
  return pages;
}

const ids = (page: Response): string[] => page.body.orders.map((o: { id: string }) => o.id);

/**
 * A time in the year 2999, to the microsecond: orders made here are newer than any other in the
 * test database, so an unfiltered listing starts with them.
 */
const at = (minute: number, micros = 0) =>
  `2999-01-01T00:${String(minute).padStart(2, '0')}:00.${String(micros).padStart(6, '0')}Z`;

interface Given {
  id: string;
  customerId: string;
  status: OrderStatus;
  createdAt: string;
}

/** An order row as POST /orders leaves one, with the created_at given (inside the test's transaction). */
async function givenOrder(o: {
  customerId: string;
  createdAt: string;
  status?: OrderStatus;
  productId: string;
  quantity?: number;
  id?: string;
}): Promise<Given> {
  const id = o.id ?? randomUUID();
  const status = o.status ?? 'paid';
  const quantity = o.quantity ?? 1;
  await db().query(
    `INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency, created_at)
     VALUES ($1, $2, 'h', $3, 'pm_card_visa', $4, $5, 'usd', $6)`,
    [id, `list-${id}`, o.customerId, status, 1000 * quantity, o.createdAt],
  );
  await db().query(
    'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, $3, 1000)',
    [id, o.productId, quantity],
  );
  return { id, customerId: o.customerId, status, createdAt: o.createdAt };
}

/** Newest first, ties by id descending (PostgreSQL compares uuids as their hex text does). */
const newestFirst = (orders: Given[]) =>
  [...orders]
    .sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? 1 : -1) : a.createdAt < b.createdAt ? 1 : -1))
    .map((o) => o.id);

const customer = (label: string) => `cus_${label}_${randomUUID().slice(0, 8)}`;

describe('GET /orders', () => {
  test('lists the base order of GET /orders/{orderId}, with its customer and creation time', async () => {
    // Prepare
    const product = await givenProduct({ priceCents: 1500, stock: 10 });
    const customerId = customer('shape');
    stripeAnswers('succeeded');
    const placed = await postOrder({
      customerId,
      paymentMethodId: 'pm_card_visa',
      items: [{ productId: product.id, quantity: 2 }],
    });
    const { rows } = await db().query<{ created_at: Date }>('SELECT created_at FROM orders WHERE id = $1', [
      placed.body.order.id,
    ]);

    // Act
    const response = await list({ customerId });

    // Assess
    expect(response.statusCode).toBe(200);
    const { order: detail } = (await getOrder(placed.body.order.id)).body;
    expect(response.body).toEqual({
      orders: [
        {
          id: detail.id,
          status: 'paid',
          amountCents: 3000,
          currency: 'usd',
          paymentIntentId: detail.paymentIntentId,
          items: [{ productId: product.id, quantity: 2, unitPriceCents: 1500 }],
          customerId,
          createdAt: rows[0]!.created_at.toISOString(),
        },
      ],
      nextCursor: null,
    });
    expect(response.body.orders[0]).toMatchObject({
      id: detail.id,
      status: detail.status,
      amountCents: detail.amountCents,
      currency: detail.currency,
      paymentIntentId: detail.paymentIntentId,
      items: detail.items,
    });
  });

  describe('filters', () => {
    let orders: Given[];
    let mug: string;
    let tee: string;
    let alice: string;
    let bob: string;

    beforeEach(async () => {
      mug = (await givenProduct()).id;
      tee = (await givenProduct()).id;
      alice = customer('alice');
      bob = customer('bob');
      orders = [
        await givenOrder({ customerId: alice, createdAt: at(1), status: 'paid', productId: mug }),
        await givenOrder({ customerId: bob, createdAt: at(2), status: 'refunded', productId: tee }),
        await givenOrder({ customerId: alice, createdAt: at(3), status: 'pending', productId: tee }),
        await givenOrder({ customerId: bob, createdAt: at(4), status: 'paid', productId: mug }),
        await givenOrder({ customerId: alice, createdAt: at(5), status: 'refunded', productId: mug }),
        await givenOrder({ customerId: bob, createdAt: at(6), status: 'canceled', productId: tee }),
      ];
      // A second line on one order: listed once by productId, with both its lines.
      await db().query(
        'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 1000)',
        [orders[0]!.id, tee],
      );
    });

    const expected = (keep: (o: Given, i: number) => boolean) => newestFirst(orders.filter(keep));

    test.each([
      ['status', () => ({ status: 'refunded' }), (o: Given) => o.status === 'refunded'],
      ['status canceled', () => ({ status: 'canceled' }), (o: Given) => o.status === 'canceled'],
      ['customerId', () => ({ customerId: alice }), (o: Given) => o.customerId === alice],
      [
        'productId (orders with a line of it)',
        () => ({ productId: tee }),
        (_: Given, i: number) => [0, 1, 2, 5].includes(i),
      ],
      ['createdFrom (inclusive)', () => ({ createdFrom: at(4) }), (o: Given) => o.createdAt >= at(4)],
      ['createdTo (exclusive)', () => ({ createdTo: at(3) }), (o: Given) => o.createdAt < at(3)],
      [
        'createdFrom with an offset',
        () => ({ createdFrom: '2999-01-01T01:05:00+01:00' }),
        (o: Given) => o.createdAt >= at(5),
      ],
      [
        'status and customerId',
        () => ({ status: 'paid', customerId: bob }),
        (o: Given) => o.status === 'paid' && o.customerId === bob,
      ],
      [
        'productId and status',
        () => ({ productId: mug, status: 'refunded' }),
        (o: Given, i: number) => o.status === 'refunded' && [0, 3, 4].includes(i),
      ],
      [
        'customerId and a time window',
        () => ({ customerId: alice, createdFrom: at(1), createdTo: at(5) }),
        (o: Given) => o.customerId === alice && o.createdAt >= at(1) && o.createdAt < at(5),
      ],
      [
        'productId, customerId and createdTo',
        () => ({ productId: tee, customerId: bob, createdTo: at(6) }),
        (o: Given, i: number) => o.customerId === bob && [1, 5].includes(i) && o.createdAt < at(6),
      ],
    ])('%s', async (_name, query, keep) => {
      // Act: no page larger than the matches, so orders made outside this test never come into it.
      const want = expected(keep);
      const response = await list({ ...query(), limit: String(want.length) });

      // Assess
      expect(response.statusCode).toBe(200);
      expect(ids(response)).toEqual(want);
    });

    test('an order with two lines is listed once by either product, with both lines', async () => {
      const response = await list({ productId: mug, customerId: alice });

      expect(ids(response)).toEqual([orders[4]!.id, orders[0]!.id]);
      expect(response.body.orders[1].items).toEqual(
        [
          { productId: mug, quantity: 1, unitPriceCents: 1000 },
          { productId: tee, quantity: 1, unitPriceCents: 1000 },
        ].sort((a, b) => a.productId.localeCompare(b.productId)),
      );
      expect(response.body.nextCursor).toBeNull();
    });

    test('no filter: every order, newest first (ours are the newest in the database)', async () => {
      const response = await list({ limit: String(orders.length) });

      expect(ids(response)).toEqual(newestFirst(orders));
    });

    test('a product nobody ordered, a customer with no orders: an empty page', async () => {
      const nobody = await givenProduct();
      expect((await list({ productId: nobody.id })).body).toEqual({ orders: [], nextCursor: null });
      expect((await list({ customerId: customer('none') })).body).toEqual({ orders: [], nextCursor: null });
    });
  });

  describe('pages', () => {
    test('three pages, with orders inserted between the requests: each order once, none shifted', async () => {
      // Prepare
      const product = await givenProduct();
      const customerId = customer('pages');
      const before = [];
      for (let minute = 10; minute < 17; minute += 1) {
        before.push(await givenOrder({ customerId, createdAt: at(minute), productId: product.id }));
      }
      const all = newestFirst(before);

      // Act: after each page, a new order (the usual insert: newer than everything) and, after the
      // first, one committed late with an older created_at than the cursor (see list-orders.ts).
      const page1 = await list({ customerId, limit: '3' });
      await givenOrder({ customerId, createdAt: at(30), productId: product.id });
      const late = await givenOrder({ customerId, createdAt: at(11, 500), productId: product.id });
      const page2 = await list({ customerId, limit: '3', cursor: page1.body.nextCursor });
      await givenOrder({ customerId, createdAt: at(31), productId: product.id });
      const page3 = await list({ customerId, limit: '3', cursor: page2.body.nextCursor });

      // Assess: the late one shows once, in its place behind the cursor; the new ones are behind the walk.
      const withLate = newestFirst([...before, late]);
      expect(ids(page1)).toEqual(all.slice(0, 3));
      expect(ids(page2)).toEqual(withLate.slice(3, 6));
      expect(ids(page2)).toContain(late.id);
      expect(ids(page3)).toEqual(withLate.slice(6));
      expect(page3.body.nextCursor).toBeNull();
      expect(typeof page1.body.nextCursor).toBe('string');
      expect(typeof page2.body.nextCursor).toBe('string');
    });

    test('orders made in one transaction share created_at: ordered by id, each once across pages', async () => {
      // Prepare: every order placed through the API in this test's transaction gets its now().
      const product = await givenProduct({ stock: 100 });
      const customerId = customer('ties');
      stripeAnswers('succeeded');
      const placed: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        const response = await postOrder({
          customerId,
          paymentMethodId: 'pm_card_visa',
          items: [{ productId: product.id, quantity: 1 }],
        });
        placed.push(response.body.order.id);
      }
      const { rows } = await db().query<{ n: string }>(
        'SELECT count(DISTINCT created_at) AS n FROM orders WHERE customer_id = $1',
        [customerId],
      );
      expect(Number(rows[0]!.n)).toBe(1);

      // Act
      const pages = await walk({ customerId, limit: '2' });

      // Assess
      expect(pages.map(ids)).toEqual([
        [...placed].sort().reverse().slice(0, 2),
        [...placed].sort().reverse().slice(2, 4),
        [...placed].sort().reverse().slice(4),
      ]);
    });

    test('the cursor keeps created_at to the microsecond: orders a microsecond apart are both listed', async () => {
      const product = await givenProduct();
      const customerId = customer('micros');
      const older = await givenOrder({ customerId, createdAt: at(20, 1), productId: product.id });
      const newer = await givenOrder({ customerId, createdAt: at(20, 2), productId: product.id });
      // Same created_at as `older`: the two are ordered by id.
      const tie = await givenOrder({ customerId, createdAt: at(20, 1), productId: product.id });

      const pages = await walk({ customerId, limit: '1' });

      expect(pages.map(ids)).toEqual(newestFirst([older, newer, tie]).map((id) => [id]));
    });

    test('the productId listing pages the same way', async () => {
      const product = await givenProduct();
      const orders = [];
      for (let minute = 40; minute < 45; minute += 1) {
        orders.push(await givenOrder({ customerId: customer('p'), createdAt: at(minute), productId: product.id }));
      }

      const pages = await walk({ productId: product.id, limit: '2' });

      expect(pages.map(ids)).toEqual([
        newestFirst(orders).slice(0, 2),
        newestFirst(orders).slice(2, 4),
        newestFirst(orders).slice(4),
      ]);
    });
  });

  describe('limit', () => {
    test('20 by default, at most 100, at least 1', async () => {
      const product = await givenProduct();
      const customerId = customer('limit');
      const orders = [];
      for (let i = 0; i < 101; i += 1) {
        orders.push(await givenOrder({ customerId, createdAt: at(50, i), productId: product.id }));
      }

      const byDefault = await list({ customerId });
      const hundred = await list({ customerId, limit: '100' });
      const one = await list({ customerId, limit: '1' });

      expect(ids(byDefault)).toEqual(newestFirst(orders).slice(0, 20));
      expect(ids(hundred)).toEqual(newestFirst(orders).slice(0, 100));
      expect(ids(one)).toEqual(newestFirst(orders).slice(0, 1));
      const rest = await list({ customerId, limit: '100', cursor: hundred.body.nextCursor });
      expect(ids(rest)).toEqual(newestFirst(orders).slice(100));
      expect(rest.body.nextCursor).toBeNull();
    });

    test('a page that ends exactly at the last order has no next cursor', async () => {
      const product = await givenProduct();
      const customerId = customer('exact');
      await givenOrder({ customerId, createdAt: at(1), productId: product.id });
      await givenOrder({ customerId, createdAt: at(2), productId: product.id });

      const page = await list({ customerId, limit: '2' });

      expect(page.body.orders).toHaveLength(2);
      expect(page.body.nextCursor).toBeNull();
    });
  });

  describe('refused with 400 invalid_request naming the field', () => {
    const orderId = '3f1b7a52-64a5-4a3e-9c1c-0c7a4b1d2e3f';
    test.each([
      ['limit', { limit: '0' }],
      ['limit', { limit: '101' }],
      ['limit', { limit: 'ten' }],
      ['limit', { limit: '1.5' }],
      ['limit', { limit: '-1' }],
      ['limit', { limit: '' }],
      ['status', { status: 'shipped' }],
      ['status', { status: 'paid,failed' }],
      ['customerId', { customerId: '' }],
      ['productId', { productId: 'a b' }],
      ['createdFrom', { createdFrom: 'yesterday' }],
      ['createdFrom', { createdFrom: '2024-12-01' }],
      ['createdFrom', { createdFrom: '2024-12-01T00:00:00' }],
      ['createdTo', { createdTo: '2024-02-30T00:00:00Z' }],
      ['createdTo', { createdFrom: '2024-12-02T00:00:00Z', createdTo: '2024-12-01T00:00:00Z' }],
      ['createdTo', { createdFrom: '2024-12-01T00:00:00Z', createdTo: '2024-12-01T00:00:00Z' }],
      ['cursor', { cursor: 'not a cursor' }],
      ['cursor', { cursor: '' }],
      ['cursor', { cursor: Buffer.from('hello').toString('base64url') }],
      ['cursor', { cursor: Buffer.from(`2024-12-01T00:00:00.000000Z|not-a-uuid`).toString('base64url') }],
      ['cursor', { cursor: Buffer.from(`2024-12-01T00:00:00Z|${orderId}`).toString('base64url') }],
      ['cursor', { cursor: Buffer.from(`2024-13-01T00:00:00.000000Z|${orderId}`).toString('base64url') }],
      ['cursor', { cursor: Buffer.from(`2024-02-30T00:00:00.000000Z|${orderId}`).toString('base64url') }],
      ['cursor', { cursor: `${encodeCursor({ createdAt: '2024-12-01T00:00:00.000000Z', id: orderId })}=` }],
      ['sort', { sort: 'asc' }],
      ['customerid', { customerid: 'cus_1' }],
    ])('%s: %j', async (field, query) => {
      const response = await list(query as Record<string, string>);

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field });
    });

    test('a parameter given twice (REST API event)', async () => {
      const response = await list({ status: 'failed' }, { multi: { status: ['paid', 'failed'] } });

      expect(response.statusCode).toBe(400);
      expect(response.body.error).toMatchObject({ code: 'invalid_request', field: 'status' });
    });

    test('a well-formed cursor this service could have made is accepted', async () => {
      const cursor = encodeCursor({ createdAt: '2024-12-01T00:00:00.000000Z', id: orderId });
      const response = await list({ cursor, customerId: customer('none') });

      expect(response.statusCode).toBe(200);
      expect(response.body).toEqual({ orders: [], nextCursor: null });
    });
  });
});

describe('GET /orders while orders are committed around it (real transactions)', () => {
  const { databaseUrl } = testEnvironment();
  const pool = createPoolDb(databaseUrl, 2);
  const customerId = customer('committed');
  const product = `sku_list_${randomUUID().slice(0, 8)}`;
  const committedList = (query: Record<string, string>) =>
    list(query, { deps: () => ({ db: pool, log: testDeps().log }) });

  /** Inserts an order and its line with created_at left to its default: now(), the transaction's start. */
  async function insertOrder(client: {
    query: (text: string, params: unknown[]) => Promise<unknown>;
  }): Promise<string> {
    const id = randomUUID();
    await client.query(
      `INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency)
       VALUES ($1, $2, 'h', $3, 'pm_card_visa', 'paid', 1000, 'usd')`,
      [id, `list-committed-${id}`, customerId],
    );
    await client.query(
      'INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES ($1, $2, 1, 1000)',
      [id, product],
    );
    return id;
  }

  afterAll(async () => {
    await pool.query('DELETE FROM order_items WHERE product_id = $1', [product]);
    await pool.query('DELETE FROM orders WHERE customer_id = $1', [customerId]);
    await pool.query('DELETE FROM products WHERE id = $1', [product]);
    await pool.end();
  });

  test('an order whose transaction began before, and committed after, the first page shows once on a later page; one begun after it is behind the walk', async () => {
    // Prepare
    await pool.query(`INSERT INTO products (id, name, price_cents, currency) VALUES ($1, 'Listed', 1000, 'usd')`, [
      product,
    ]);
    const slow = new Client({ connectionString: databaseUrl });
    const late = new Client({ connectionString: databaseUrl });
    await slow.connect();
    await late.connect();
    try {
      // A few milliseconds between the steps, so no two transactions start in the same microsecond.
      const tick = () => new Promise((resolve) => setTimeout(resolve, 3));
      await insertOrder(pool);
      await tick();
      await slow.query('BEGIN');
      const slowId = await insertOrder(slow); // created_at: this transaction's start, not yet visible
      const committed = [];
      for (let i = 0; i < 3; i += 1) {
        await tick();
        committed.push(await insertOrder(pool));
      }
      await tick();
      await late.query('BEGIN');
      const lateId = await insertOrder(late); // newer than every committed one

      // Act
      const page1 = await committedList({ customerId, limit: '2' });
      await slow.query('COMMIT');
      await late.query('COMMIT');
      const page2 = await committedList({ customerId, limit: '2', cursor: page1.body.nextCursor });
      const page3 = await committedList({ customerId, limit: '2', cursor: page2.body.nextCursor });
      const fresh = await committedList({ customerId, limit: '10' });

      // Assess
      const { rows } = await pool.query<{ id: string }>(
        'SELECT id FROM orders WHERE customer_id = $1 ORDER BY created_at DESC, id DESC',
        [customerId],
      );
      expect(rows.map((r) => r.id)[0]).toBe(lateId);
      expect(ids(page1)).toEqual([committed[2], committed[1]]);
      const walked = [...ids(page1), ...ids(page2), ...ids(page3)];
      expect(walked).toEqual(rows.map((r) => r.id).filter((id) => id !== lateId));
      expect(walked.filter((id) => id === slowId)).toHaveLength(1);
      expect(page3.body.nextCursor).toBeNull();
      expect(ids(fresh)).toEqual(rows.map((r) => r.id));
    } finally {
      await slow.end();
      await late.end();
    }
  });
});
