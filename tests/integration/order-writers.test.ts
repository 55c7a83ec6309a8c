import { Client } from 'pg';
import { refundHandler } from '../../handlers/refund';
import { stripeWebhookHandler } from '../../handlers/stripe-webhook';
import type { Db } from '../../lib/db';
import type { Deps } from '../../lib/deps';
import { testEnvironment } from '../../scripts/test-environment';
import { CommittedWorld } from '../helpers/committed-world';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { orderBody, stripeAnswers, stripeRefunds } from '../helpers/orders';
import { paymentIntent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsRetrieve, mockRefundsCreate } from '../helpers/stripe-mock';
import { paymentEvent, sign, WEBHOOK_SECRET } from '../helpers/webhooks';

/**
 * Two writers of one order, interleaved for real and on purpose: writer A is paused inside its
 * transaction, holding the order's row lock with its change not yet committed; writer B is started
 * and the test waits until PostgreSQL shows B waiting for that lock; then A commits. B must decide
 * on what A committed (the locking rule: lock first, then read), never on what it saw before it
 * waited. Each container is its own pool on committed rows (CommittedWorld).
 */

/** `inner`, whose first transaction pauses after its work, before COMMIT, until `open()`. */
function pausedFirstTransaction(inner: Db): { db: Db; inside: Promise<void>; open: () => void } {
  let open!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const inside = new Promise<void>((r) => (entered = r));
  let paused = false;
  const db: Db = {
    query: (text, params) => inner.query(text, params),
    transaction: (work) =>
      inner.transaction(async (tx) => {
        const result = await work(tx);
        if (!paused) {
          paused = true;
          entered();
          await gate;
        }
        return result;
      }),
  };
  return { db, inside, open };
}

/** Resolves once a backend of the test database waits for an order's row lock (B is blocked behind A). */
async function someoneWaitsForALock(): Promise<number> {
  const admin = new Client({ connectionString: testEnvironment().databaseUrl });
  await admin.connect();
  try {
    for (let i = 0; i < 500; i += 1) {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'
            AND query LIKE 'SELECT 1 FROM orders WHERE id = $1 FOR UPDATE%'`,
      );
      if ((rows[0]?.n ?? 0) > 0) return rows[0]?.n ?? 0;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('no backend ever waited for the order lock');
  } finally {
    await admin.end();
  }
}

function refund(deps: Deps, orderId: string, body: unknown): Promise<Response> {
  return invoke(
    refundHandler(() => deps),
    apiGatewayEvent({
      method: 'POST',
      path: `/orders/${orderId}/refunds`,
      routeKey: 'POST /orders/{orderId}/refunds',
      pathParameters: { orderId },
      body,
    }),
  );
}

function webhook(deps: Deps, payload: string): Promise<Response> {
  return invoke(
    stripeWebhookHandler(
      () => deps,
      () => [WEBHOOK_SECRET],
    ),
    apiGatewayEvent({
      method: 'POST',
      path: '/webhooks/stripe',
      headers: { 'stripe-signature': sign(payload) },
      rawBody: payload,
    }),
  );
}

let world: CommittedWorld;

beforeEach(async () => {
  world = await CommittedWorld.open(2);
});

afterEach(async () => {
  await world.close();
});

async function paidOrder(quantity: number, stock: number) {
  const product = await world.givenProduct({ stock, priceCents: 1000 });
  stripeAnswers('succeeded');
  const placed = await world.postOrder(
    world.containers[0]!,
    orderBody([{ productId: product.id, quantity }]),
    world.idempotencyKey(`paid-${product.id}`),
  );
  expect(placed.statusCode).toBe(201);
  return {
    product,
    order: placed.body.order as { id: string; paymentIntentId: string; amountCents: number; currency: string },
  };
}

async function refundedQuantity(orderId: string): Promise<number> {
  const { rows } = await world.db.query<{ n: number }>(
    'SELECT refunded_quantity AS n FROM order_items WHERE order_id = $1',
    [orderId],
  );
  return rows[0]?.n ?? NaN;
}

describe("two writers of one order, the second waiting for the first one's lock", () => {
  test.each([
    [
      'partial + partial for the last units',
      { items: 2 },
      { items: 2 },
      [
        [201, undefined],
        [422, 'refund_quantity_exceeded'],
      ],
    ],
    [
      'full + partial',
      { items: null },
      { items: 1 },
      [
        [201, undefined],
        [422, 'refund_quantity_exceeded'],
      ],
    ],
  ] as const)(
    'two refunds (%s): the waiting one decides on the lines the first committed, never 500',
    async (_, a, b, expected) => {
      // Prepare: 3 units bought; A records its refund and pauses, holding the order's lock.
      const { product, order } = await paidOrder(3, 10);
      stripeRefunds();
      const body = (x: { items: number | null }) =>
        x.items === null ? {} : { items: [{ productId: product.id, quantity: x.items }] };
      const [c0, c1] = world.containers as [(typeof world.containers)[0], (typeof world.containers)[0]];
      const paused = pausedFirstTransaction(c0.deps.db);
      const first = refund({ ...c0.deps, db: paused.db }, order.id, body(a));
      await paused.inside;

      // Act: B starts, and is seen waiting for the lock A holds; then A commits.
      const second = refund(c1.deps, order.id, body(b));
      expect(await someoneWaitsForALock()).toBeGreaterThanOrEqual(1);
      paused.open();
      const responses = await Promise.all([first, second]);

      // Assess
      expect(responses.map((r) => [r.statusCode, r.body.error?.code])).toEqual(expected);
      const bought = 3;
      const refunded = a.items ?? bought;
      expect(await refundedQuantity(order.id)).toBe(refunded);
      expect(await world.inventoryOf(product.id)).toBe(10 - bought + refunded);
      expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
      const { rows } = await world.db.query('SELECT status, amount_cents FROM refunds WHERE order_id = $1', [order.id]);
      expect(rows).toEqual([{ status: 'succeeded', amount_cents: refunded * 1000 }]);
    },
  );

  test('a refund and a newer payment_failed: the webhook reads the lines after the refund commits and Stripe keeps the order paid; stock comes back once', async () => {
    // Prepare
    const { product, order } = await paidOrder(3, 10);
    stripeRefunds();
    mockPaymentIntentsRetrieve.mockResolvedValue(
      paymentIntent({
        id: order.paymentIntentId,
        status: 'succeeded',
        amount: order.amountCents,
        currency: 'usd',
        orderId: order.id,
      }),
    );
    const newerFailure = paymentEvent('payment_intent.payment_failed', order, {
      created: Math.floor(Date.now() / 1000) + 5,
    });
    const [c0, c1] = world.containers as [(typeof world.containers)[0], (typeof world.containers)[0]];
    const paused = pausedFirstTransaction(c0.deps.db);
    const refunding = refund({ ...c0.deps, db: paused.db }, order.id, {
      items: [{ productId: product.id, quantity: 1 }],
    });
    await paused.inside;

    // Act
    const failing = webhook(c1.deps, newerFailure.payload);
    expect(await someoneWaitsForALock()).toBeGreaterThanOrEqual(1);
    paused.open();
    const [refunded, delivered] = await Promise.all([refunding, failing]);

    // Assess: money and status agree (the PaymentIntent succeeded: the order keeps what it was paid
    // less the refund), and the refunded unit is the only stock that came back.
    expect(refunded.statusCode).toBe(201);
    expect(delivered.statusCode).toBe(200);
    expect(await world.inventoryOf(product.id)).toBe(10 - 3 + 1);
    const { rows } = await world.db.query('SELECT status FROM orders WHERE id = $1', [order.id]);
    expect(rows).toEqual([{ status: 'paid' }]);
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledWith(order.paymentIntentId);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
  });
});
