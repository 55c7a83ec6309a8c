import { randomUUID } from 'node:crypto';
import { run } from '../../scripts/local-stack';
import { type Stack, startStack } from './stack';

/**
 * An order's whole life over HTTP, with Stripe's later word delivered as signed events by the
 * double: abandoned payments, operator cancels, refunds that fail later, dashboard refunds,
 * disputes. Each step checks PostgreSQL, Redis and what the double holds.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function givenProduct(stock: number, priceCents = 1500): Promise<string> {
  const id = `sku_life_${randomUUID().slice(0, 8)}`;
  await stack.db.query('INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $1, $2, $3)', [
    id,
    priceCents,
    'usd',
  ]);
  await stack.db.query('INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)', [id, stock]);
  return id;
}

async function http(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A test control of the double (what happens at Stripe later). */
async function atStripe(path: string, body: unknown) {
  const response = await fetch(`${stack.double.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const order = (productId: string, quantity: number, paymentMethodId = 'pm_card_visa') =>
  http(
    'POST',
    '/orders',
    { customerId: 'cus_life', paymentMethodId, items: [{ productId, quantity }] },
    { 'Idempotency-Key': randomUUID() },
  );

async function inventory(productId: string): Promise<number> {
  const { rows } = await stack.db.query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1', [
    productId,
  ]);
  return rows[0]?.quantity ?? Number.NaN;
}

async function lookup(orderId: string) {
  const found = await http('GET', `/orders/${orderId}`);
  expect(found.status).toBe(200);
  return found.body.order;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every order placed so far counts as abandoned after 1 s: the scheduled function, run once. */
async function expireOrders(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1100));
  await run('npm', ['run', '--silent', 'expire-orders'], { ...stack.env, PENDING_ORDER_TIMEOUT_SECONDS: '1' }, true);
}

test('an abandoned 3-D Secure order: after a scheduled run it is canceled, its PaymentIntent canceled at Stripe (abandoned), its stock available again', async () => {
  const sku = await givenProduct(2, 1000);
  const placed = await order(sku, 2, 'pm_card_authenticationRequired');
  expect(placed.status).toBe(202);
  const { id: orderId, paymentIntentId } = placed.body.order;
  expect(await stack.redis.exists(`reservation:${orderId}`)).toBe(1);
  // Nobody else can buy the held units meanwhile.
  expect((await order(sku, 1)).status).toBe(409);

  await expireOrders();

  const canceled = await lookup(orderId);
  expect(canceled.status).toBe('canceled');
  expect(canceled.events.map((e: { type: string }) => e.type)).toEqual(['created', 'payment_pending', 'canceled']);
  expect(canceled.events.at(-1)).toMatchObject({ type: 'canceled', source: 'scheduler' });
  expect(stack.double.intentsFor(orderId)).toEqual([
    expect.objectContaining({ id: paymentIntentId, status: 'canceled', cancellation_reason: 'abandoned' }),
  ]);
  expect(await stack.redis.exists(`reservation:${orderId}`)).toBe(0);
  expect(await inventory(sku)).toBe(2);
  // Stripe's payment_intent.canceled arrives and changes nothing more.
  await eventually(
    async () => stack.double.acknowledged(paymentIntentId).includes('payment_intent.canceled'),
    'payment_intent.canceled acknowledged',
  );
  expect((await lookup(orderId)).status).toBe('canceled');
  // The stock it held can be sold at once.
  const next = await order(sku, 2);
  expect(next.status).toBe(201);
  const { rows } = await stack.db.query('SELECT topic FROM outbox WHERE order_id = $1', [orderId]);
  expect(rows).toEqual([{ topic: 'order.canceled' }]);
});

test('a paid order canceled by an operator: refunded in full at Stripe, its stock back, canceled', async () => {
  const sku = await givenProduct(5, 1200);
  const placed = await order(sku, 3);
  expect(placed.status).toBe(201);
  const { id: orderId, paymentIntentId } = placed.body.order;
  expect(await inventory(sku)).toBe(2);

  const canceled = await http('POST', `/orders/${orderId}/cancel`, { reason: 'requested_by_customer' });

  expect(canceled.status).toBe(200);
  expect(canceled.body.order).toMatchObject({ id: orderId, status: 'canceled' });
  expect(stack.double.refundsFor(paymentIntentId)).toEqual([
    expect.objectContaining({ amount: 3600, status: 'succeeded', reason: 'requested_by_customer' }),
  ]);
  expect(await inventory(sku)).toBe(5);
  const again = await http('POST', `/orders/${orderId}/cancel`, {});
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('order_not_cancelable');
  // Stripe's refund events arrive and give nothing back twice.
  await eventually(
    async () => stack.double.acknowledged(String(stack.double.refundsFor(paymentIntentId)[0]?.id)).length > 0,
    'refund.created acknowledged',
  );
  expect(await inventory(sku)).toBe(5);
  expect((await lookup(orderId)).status).toBe('canceled');
});

test('a refund Stripe reports failed later: the money is owed again, a new refund sends it, the stock comes back once', async () => {
  const sku = await givenProduct(4, 1000);
  const placed = await order(sku, 2);
  const { id: orderId, paymentIntentId } = placed.body.order;

  const refunded = await http('POST', `/orders/${orderId}/refunds`, {});
  expect(refunded.status).toBe(201);
  expect(refunded.body.order.status).toBe('refunded');
  expect(await inventory(sku)).toBe(4);
  const stripeRefundId = refunded.body.refund.stripeRefundId;

  await atStripe(`/_double/refunds/${stripeRefundId}/status`, {
    status: 'failed',
    failure_reason: 'expired_or_canceled_card',
  });
  await eventually(async () => (await lookup(orderId)).status === 'paid', 'the order back to paid');
  const owed = await lookup(orderId);
  expect(owed.refunds).toEqual([
    expect.objectContaining({ stripeRefundId, status: 'failed', failureReason: 'expired_or_canceled_card' }),
  ]);
  expect(await inventory(sku)).toBe(4); // the goods came back; only the money did not

  const again = await http('POST', `/orders/${orderId}/refunds`, {});
  expect(again.status).toBe(201);
  expect(again.body.order.status).toBe('refunded');
  expect(stack.double.refundsFor(paymentIntentId).map((r) => [r.amount, r.status])).toEqual([
    [2000, 'failed'],
    [2000, 'succeeded'],
  ]);
  expect(await inventory(sku)).toBe(4);
});

test('a refund made in the Stripe dashboard: recorded money-only, no stock moved, the order refunded when no money is left', async () => {
  const sku = await givenProduct(6, 1000);
  const placed = await order(sku, 3);
  const { id: orderId, paymentIntentId } = placed.body.order;

  await atStripe('/_double/dashboard_refunds', { payment_intent: paymentIntentId, amount: 1000 });
  await eventually(async () => (await lookup(orderId)).refunds.length === 1, 'the dashboard refund recorded');
  const partly = await lookup(orderId);
  expect(partly.status).toBe('paid');
  expect(partly.refunds).toEqual([expect.objectContaining({ amountCents: 1000, status: 'succeeded', items: [] })]);
  expect(await inventory(sku)).toBe(3);

  await atStripe('/_double/dashboard_refunds', { payment_intent: paymentIntentId });
  await eventually(async () => (await lookup(orderId)).status === 'refunded', 'the order refunded');
  expect(await inventory(sku)).toBe(3);
  expect(stack.double.refundsFor(paymentIntentId).map((r) => r.amount)).toEqual([1000, 2000]);
});

test('a dispute is shown on the order as Stripe moves it; the order stays paid', async () => {
  const sku = await givenProduct(3, 2500);
  const placed = await order(sku, 1);
  const { id: orderId, paymentIntentId } = placed.body.order;

  const dispute = await atStripe('/_double/disputes', { payment_intent: paymentIntentId, reason: 'fraudulent' });
  await eventually(async () => (await lookup(orderId)).dispute !== null, 'the dispute recorded');
  expect((await lookup(orderId)).dispute).toMatchObject({
    id: dispute.id,
    status: 'needs_response',
    amountCents: 2500,
    reason: 'fraudulent',
  });

  await atStripe(`/_double/disputes/${String(dispute.id)}/status`, { status: 'lost' });
  await eventually(async () => (await lookup(orderId)).dispute?.status === 'lost', 'the dispute closed');
  const closed = await lookup(orderId);
  expect(closed.status).toBe('paid');
  expect(closed.events.map((e: { type: string }) => e.type)).toEqual(
    expect.arrayContaining(['dispute_opened', 'dispute_closed']),
  );
});

test('an operator lists orders (newest first, by customer, page by page) and adjusts stock, over HTTP', async () => {
  const sku = await givenProduct(3, 700);
  const customerId = `cus_list_${randomUUID().slice(0, 8)}`;
  const placed: string[] = [];
  for (let i = 0; i < 3; i += 1) {
    const response = await http(
      'POST',
      '/orders',
      { customerId, paymentMethodId: 'pm_card_visa', items: [{ productId: sku, quantity: 1 }] },
      { 'Idempotency-Key': randomUUID() },
    );
    expect(response.status).toBe(201);
    placed.push(response.body.order.id);
  }

  const first = await http('GET', `/orders?customerId=${customerId}&limit=2`);
  expect(first.status).toBe(200);
  expect(first.body.orders.map((o: { id: string }) => o.id)).toEqual([placed[2], placed[1]]);
  const second = await http('GET', `/orders?customerId=${customerId}&limit=2&cursor=${first.body.nextCursor}`);
  expect(second.body).toMatchObject({ orders: [{ id: placed[0] }], nextCursor: null });
  expect((await http('GET', '/orders?status=lost')).status).toBe(400);

  expect((await http('GET', `/products/${sku}/stock`)).body).toMatchObject({ quantity: 0, available: 0 });
  const restock = await http(
    'POST',
    `/products/${sku}/stock/adjustments`,
    { delta: 5, reason: 'delivery' },
    { 'Idempotency-Key': randomUUID() },
  );
  expect(restock.status).toBe(201);
  expect(restock.body).toMatchObject({ productId: sku, quantity: 5, available: 5 });
  const tooMany = await http('POST', `/products/${sku}/stock/adjustments`, { delta: -6, reason: 'count' });
  expect(tooMany.status).toBe(409);
  expect(tooMany.body.error.code).toBe('stock_below_zero');
  // What was added can be sold at once.
  expect((await order(sku, 5)).status).toBe(201);
  expect(await inventory(sku)).toBe(0);
});
