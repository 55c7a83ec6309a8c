import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { type Stack, startStack } from './stack';

/**
 * The whole service over HTTP, as a shop's storefront and Stripe see it. Each step checks what
 * PostgreSQL and Redis hold afterwards.
 */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

async function givenProduct(stock: number, priceCents = 1500): Promise<string> {
  const id = `sku_e2e_${randomUUID().slice(0, 8)}`;
  await stack.db.query('INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $2, $3, $4)', [
    id,
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
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

const order = (productId: string, quantity: number, paymentMethodId = 'pm_card_visa', key: string = randomUUID()) =>
  http(
    'POST',
    '/orders',
    { customerId: 'cus_e2e', paymentMethodId, items: [{ productId, quantity }] },
    { 'Idempotency-Key': key },
  );

async function inventory(productId: string): Promise<number> {
  const { rows } = await stack.db.query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1', [
    productId,
  ]);
  return rows[0]?.quantity ?? NaN;
}

async function status(orderId: string): Promise<string | undefined> {
  const { rows } = await stack.db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [orderId]);
  return rows[0]?.status;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a paid order: 201, stock taken, hold gone, result stored, the success webhook acknowledged', async () => {
  const sku = await givenProduct(5, 1250);

  const response = await order(sku, 2, 'pm_card_visa', 'e2e-paid');

  expect(response.status).toBe(201);
  expect(response.body.order).toMatchObject({
    status: 'paid',
    amountCents: 2500,
    currency: 'usd',
    paymentIntentId: expect.stringMatching(/^pi_/),
  });
  expect(await status(response.body.order.id)).toBe('paid');
  expect(await inventory(sku)).toBe(3);
  expect(await stack.redis.exists(`reservation:${response.body.order.id}`)).toBe(0);
  expect(await stack.redis.exists('idempotency:e2e-paid')).toBe(1);
  await eventually(
    async () => (await stack.redis.keys('stripe:event:*')).length > 0,
    'the payment_intent.succeeded delivery',
  );
  expect(await inventory(sku)).toBe(3);
});

test('the same key again replays the same order without a second PaymentIntent', async () => {
  const sku = await givenProduct(5);
  const first = await order(sku, 1, 'pm_card_visa', 'e2e-replay');
  const created = stack.double.stats.paymentIntentsCreated;

  const replay = await order(sku, 1, 'pm_card_visa', 'e2e-replay');

  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(replay.body).toEqual(first.body);
  expect(stack.double.stats.paymentIntentsCreated).toBe(created);
  const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1', [
    'e2e-replay',
  ]);
  expect(rows[0]).toEqual({ n: 1 });
  expect(await inventory(sku)).toBe(4);
});

test('a declined card: 402 payment_declined, order failed, stock untouched, hold released', async () => {
  const sku = await givenProduct(5);

  const response = await order(sku, 2, 'pm_card_chargeDeclined');

  expect(response.status).toBe(402);
  expect(response.body.error).toMatchObject({ code: 'payment_declined', declineCode: 'generic_decline' });
  expect(await status(response.body.error.orderId)).toBe('failed');
  expect(await inventory(sku)).toBe(5);
  expect(await stack.redis.exists(`reservation:${response.body.error.orderId}`)).toBe(0);
});

test('3-D Secure: 202 pending with the hold kept, then the delivered webhook completes it', async () => {
  const sku = await givenProduct(5);

  const response = await order(sku, 2, 'pm_card_authenticationRequired');

  expect(response.status).toBe(202);
  const { id, paymentIntentId } = response.body.order;
  expect(await status(id)).toBe('pending');
  expect(await stack.redis.hgetall(`reservation:${id}`)).toEqual({ [sku]: '2' });
  expect(await stack.redis.ttl(`reservation:${id}`)).toBeGreaterThan(800);
  expect(await inventory(sku)).toBe(5);

  // The customer passes the challenge; Stripe (the double) delivers payment_intent.succeeded.
  await fetch(`${stack.double.url}/_double/payment_intents/${paymentIntentId}/authenticate`, {
    method: 'POST',
    body: 'outcome=succeed',
  });
  // Acknowledged: the handler has answered, so its Redis step (after its commit) is done too.
  await eventually(
    async () => stack.double.acknowledged(paymentIntentId).includes('payment_intent.succeeded'),
    'the webhook to be acknowledged',
  );
  expect(await status(id)).toBe('paid');

  expect(await inventory(sku)).toBe(3);
  expect(await stack.redis.exists(`reservation:${id}`)).toBe(0);
});

test('10 concurrent orders for 3 units: exactly 3 paid, 7 insufficient_inventory, stock 0', async () => {
  const sku = await givenProduct(3);

  const responses = await Promise.all(Array.from({ length: 10 }, () => order(sku, 1)));

  const statuses = responses.map((r) => r.status).sort();
  expect(statuses).toEqual([201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
  for (const r of responses.filter((r) => r.status === 409)) expect(r.body.error.code).toBe('insufficient_inventory');
  expect(await inventory(sku)).toBe(0);
  const { rows } = await stack.db.query(
    `SELECT o.status, count(*)::int AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = $1 GROUP BY o.status ORDER BY o.status`,
    [sku],
  );
  expect(rows).toEqual([
    { status: 'failed', n: 7 },
    { status: 'paid', n: 3 },
  ]);
  expect(await stack.redis.keys('reservation:*')).toEqual([]);
});

test('a partial then a full refund: rows, stock given back, order refunded, looked up over HTTP', async () => {
  const sku = await givenProduct(10, 1000);
  const placed = await order(sku, 3);
  const orderId = placed.body.order.id;

  const partial = await http('POST', `/orders/${orderId}/refunds`, { items: [{ productId: sku, quantity: 1 }] });
  expect(partial.status).toBe(201);
  expect(partial.body).toMatchObject({
    refund: { amountCents: 1000, stripeRefundId: expect.stringMatching(/^re_/) },
    order: { status: 'paid' },
  });
  expect(await inventory(sku)).toBe(8);

  const full = await http('POST', `/orders/${orderId}/refunds`, { reason: 'requested_by_customer' });
  expect(full.status).toBe(201);
  expect(full.body).toMatchObject({ refund: { amountCents: 2000 }, order: { status: 'refunded' } });
  expect(await inventory(sku)).toBe(10);
  const { rows } = await stack.db.query(
    'SELECT amount_cents, status FROM refunds WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  expect(rows).toEqual([
    { amount_cents: 1000, status: 'succeeded' },
    { amount_cents: 2000, status: 'succeeded' },
  ]);

  const again = await http('POST', `/orders/${orderId}/refunds`, {});
  expect(again.status).toBe(409);
  expect(again.body.error.code).toBe('order_not_refundable');

  const lookup = await http('GET', `/orders/${orderId}`);
  expect(lookup.status).toBe(200);
  expect(lookup.body.order).toMatchObject({ id: orderId, status: 'refunded', amountCents: 3000 });
  expect(lookup.body.order.refunds.map((r: { amountCents: number }) => r.amountCents)).toEqual([1000, 2000]);
});

test('a partial refund made in the dashboard: the service hears of it, never asks Stripe for more than is left (422), and a full refund sends only the rest', async () => {
  const sku = await givenProduct(10, 1000);
  const placed = await order(sku, 2);
  const { id: orderId, paymentIntentId } = placed.body.order;
  // The shop refunds 15.00 of the 20.00 in the Stripe dashboard: straight to the double, not through us.
  const dashboard = await fetch(`${stack.double.url}/v1/refunds`, {
    method: 'POST',
    headers: { Authorization: 'Bearer sk_test_dashboard', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `payment_intent=${paymentIntentId}&amount=1500`,
  });
  expect(dashboard.status).toBe(200);
  await eventually(async () => {
    const { rows } = await stack.db.query('SELECT 1 FROM refunds WHERE order_id = $1', [orderId]);
    return rows.length === 1;
  }, 'the dashboard refund recorded from its webhook');

  const tooMuch = await http('POST', `/orders/${orderId}/refunds`, { items: [{ productId: sku, quantity: 1 }] });
  const rest = await http('POST', `/orders/${orderId}/refunds`, {});

  expect(tooMuch.status).toBe(422);
  expect(tooMuch.body.error).toMatchObject({ code: 'refund_amount_exceeded', refundableCents: 500 });
  expect(rest.status).toBe(201);
  expect(rest.body).toMatchObject({ refund: { amountCents: 500 }, order: { status: 'refunded' } });
  expect(stack.double.refundsFor(paymentIntentId).map((r) => r.amount)).toEqual([1500, 500]);
  const { rows } = await stack.db.query(
    'SELECT amount_cents, status, source FROM refunds WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  expect(rows).toEqual([
    { amount_cents: 1500, status: 'succeeded', source: 'stripe_dashboard' },
    { amount_cents: 500, status: 'succeeded', source: 'operator' },
  ]);
  expect(await inventory(sku)).toBe(10);
});

test('a forged webhook gets 401 and changes nothing', async () => {
  const sku = await givenProduct(5);
  const pending = await order(sku, 1, 'pm_card_authenticationRequired');
  const { id, paymentIntentId } = pending.body.order;
  const payload = JSON.stringify({
    id: 'evt_forged',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: { id: paymentIntentId, object: 'payment_intent', status: 'succeeded', metadata: { order_id: id } },
    },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_not_the_real_one' });

  const response = await http('POST', '/webhooks/stripe', payload, { 'Stripe-Signature': signature });

  expect(response.status).toBe(401);
  expect(response.body.error.code).toBe('invalid_signature');
  expect(await status(id)).toBe('pending');
  expect(await inventory(sku)).toBe(5);
  expect(await stack.redis.exists('stripe:event:evt_forged')).toBe(0);
});

test("bad input and unknown orders get the contract's 4xx over HTTP", async () => {
  const malformed = await http('POST', '/orders', '{"items": [', { 'Idempotency-Key': randomUUID() });
  const unknown = await order('sku_does_not_exist', 1);
  const lookup = await http('GET', `/orders/${randomUUID()}`);

  expect([malformed.status, malformed.body.error.code]).toEqual([400, 'invalid_request']);
  expect([unknown.status, unknown.body.error.code]).toEqual([422, 'unknown_product']);
  expect([lookup.status, lookup.body.error.code]).toEqual([404, 'order_not_found']);
});
