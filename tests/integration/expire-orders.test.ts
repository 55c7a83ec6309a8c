import type { ScheduledEvent } from 'aws-lambda';
import { Client } from 'pg';
import type Stripe from 'stripe';
import { expireOrdersHandler } from '../../handlers/expire-orders';
import type { Deps } from '../../lib/deps';
import { type ExpireSummary, expireOrders } from '../../lib/orders/expire-orders';
import type { Payments } from '../../lib/payments/payments';
import { testEnvironment } from '../../scripts/test-environment';
import { availableOf, givenProduct, heldOf, inventoryOf, orderRow } from '../helpers/builders';
import { CommittedWorld } from '../helpers/committed-world';
import { lambdaContext } from '../helpers/events';
import { db, logs, testDeps } from '../helpers/harness';
import {
  givenPaidOrder,
  givenPendingOrder,
  orderBody,
  postOrder,
  postRefund,
  stripeAnswers,
  stripeRefunds,
} from '../helpers/orders';
import {
  connectionError,
  invalidRequestError,
  paymentIntent,
  refund as stripeRefund,
} from '../helpers/stripe-fixtures';
import {
  mockPaymentIntentsCancel,
  mockPaymentIntentsCreate,
  mockPaymentIntentsRetrieve,
  mockPaymentIntentsSearch,
  mockRefundsCreate,
} from '../helpers/stripe-mock';

const NOTHING: ExpireSummary = { settledPaid: 0, canceled: 0, waiting: 0, refundsResent: 0, errors: 0 };

type Order = { id: string; paymentIntentId: string; amountCents: number; currency: string };

function intentOf(order: Order, status: Stripe.PaymentIntent.Status, id = order.paymentIntentId) {
  return paymentIntent({ id, status, amount: order.amountCents, currency: order.currency, orderId: order.id });
}

/** Stripe holds each order's PaymentIntent in the status given (retrieve by id). */
function stripeHolds(statuses: Map<string, Stripe.PaymentIntent.Status | Error>, orders: Order[]): void {
  mockPaymentIntentsRetrieve.mockImplementation(async (id: string) => {
    const order = orders.find((o) => o.paymentIntentId === id);
    const status = statuses.get(id);
    if (!order || status === undefined) throw new Error(`unexpected retrieve of ${id}`);
    if (status instanceof Error) throw status;
    return intentOf(order, status);
  });
}

/** Stripe cancels every PaymentIntent it is asked to. */
function stripeCancels(): void {
  mockPaymentIntentsCancel.mockImplementation(async (id: string, params: { cancellation_reason: string }) => ({
    ...paymentIntent({ id, status: 'canceled', amount: 100, currency: 'usd', orderId: 'unused' }),
    cancellation_reason: params.cancellation_reason,
  }));
}

/** The order was placed `minutes` ago (PENDING_ORDER_TIMEOUT_SECONDS is 900 in tests). */
async function placedAgo(orderId: string, minutes: number): Promise<void> {
  await db().query(`UPDATE orders SET created_at = now() - make_interval(mins => $2) WHERE id = $1`, [
    orderId,
    minutes,
  ]);
}

async function historyOf(orderId: string) {
  const { rows } = await db().query<{ type: string; source: string }>(
    'SELECT type, source FROM order_events WHERE order_id = $1 ORDER BY id',
    [orderId],
  );
  return rows;
}

async function outboxTopics(orderId: string): Promise<string[]> {
  const { rows } = await db().query<{ topic: string }>(
    'SELECT topic FROM outbox WHERE order_id = $1 ORDER BY created_at',
    [orderId],
  );
  return rows.map((r) => r.topic);
}

/** A pending order with no PaymentIntent: its create-order request could not reach Stripe (503). */
async function givenPendingOrderWithoutPaymentIntent(productId: string, quantity: number): Promise<string> {
  mockPaymentIntentsCreate.mockRejectedValueOnce(connectionError());
  const response = await postOrder(orderBody([{ productId, quantity }]));
  expect(response.statusCode).toBe(503);
  mockPaymentIntentsCreate.mockReset();
  return response.body.error.orderId as string;
}

const run = (o: Parameters<typeof expireOrders>[1] = {}) => expireOrders(testDeps(), o);

/** What EventBridge Scheduler sends a `schedule` function (its fields are not read). */
const scheduledEvent = (): ScheduledEvent => ({
  version: '0',
  id: 'e2d7a1c0-0000-4000-8000-000000000000',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: new Date().toISOString(),
  region: 'eu-west-1',
  resources: ['arn:aws:events:eu-west-1:123456789012:rule/expire-orders'],
  detail: {},
});

describe('expireOrders (the scheduled function)', () => {
  test('an order younger than PENDING_ORDER_TIMEOUT_SECONDS is left alone, Stripe not asked', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    await placedAgo(order.id, 14);

    expect(await run()).toEqual(NOTHING);

    expect(mockPaymentIntentsRetrieve).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', locked_until: null });
    expect(await heldOf(mug.id)).toBe(2);
  });

  test('an abandoned payment (requires_action): canceled at Stripe as abandoned, the order canceled and its hold released', async () => {
    // Prepare
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    await placedAgo(order.id, 16);
    stripeHolds(new Map([[order.paymentIntentId, 'requires_action']]), [order]);
    stripeCancels();

    // Act: through the Lambda handler, as EventBridge invokes it.
    const summary = await expireOrdersHandler(() => testDeps())(scheduledEvent(), lambdaContext());

    // Assess
    expect(summary).toEqual({ ...NOTHING, canceled: 1 });
    expect(logs()).toContainEqual(expect.objectContaining({ level: 'info', message: 'expire orders', canceled: 1 }));
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledWith(order.paymentIntentId);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledTimes(1);
    expect(mockPaymentIntentsCancel).toHaveBeenCalledWith(
      order.paymentIntentId,
      { cancellation_reason: 'abandoned' },
      { idempotencyKey: `order-${order.id}-cancel` },
    );
    expect(await orderRow(order.id)).toMatchObject({
      status: 'canceled',
      cancel_reason: 'abandoned',
      locked_until: null,
    });
    expect(await heldOf(mug.id)).toBe(0);
    expect(await availableOf(mug.id)).toBe(5);
    expect(await inventoryOf(mug.id)).toBe(5);
    expect(await historyOf(order.id)).toContainEqual({ type: 'canceled', source: 'scheduler' });
    expect(await outboxTopics(order.id)).toEqual(['order.canceled']);
  });

  test('paid at Stripe (succeeded): settled as the webhook would, stock taken once, hold dropped', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    await placedAgo(order.id, 30);
    stripeHolds(new Map([[order.paymentIntentId, 'succeeded']]), [order]);

    expect(await run()).toEqual({ ...NOTHING, settledPaid: 1 });

    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid', locked_until: null });
    expect(await inventoryOf(mug.id)).toBe(3);
    expect(await heldOf(mug.id)).toBe(0);
    expect(await availableOf(mug.id)).toBe(3);
    expect(await historyOf(order.id)).toContainEqual({ type: 'paid', source: 'scheduler' });
    expect(await outboxTopics(order.id)).toEqual(['order.paid']);
  });

  test('paid at Stripe between our look and our cancel (Stripe refuses the cancel): settled paid, not canceled', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    await placedAgo(order.id, 30);
    mockPaymentIntentsRetrieve
      .mockResolvedValueOnce(intentOf(order, 'requires_action'))
      .mockResolvedValueOnce(intentOf(order, 'succeeded'));
    mockPaymentIntentsCancel.mockRejectedValue(
      invalidRequestError('payment_intent_unexpected_state', 'This PaymentIntent could not be canceled.'),
    );

    expect(await run()).toEqual({ ...NOTHING, settledPaid: 1 });

    expect(mockPaymentIntentsCancel).toHaveBeenCalledTimes(1);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    expect(await inventoryOf(mug.id)).toBe(4);
  });

  test('payment processing at Stripe: left for the next run, untouched, its lease let go', async () => {
    const mug = await givenProduct({ stock: 5 });
    const order = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    await placedAgo(order.id, 30);
    stripeHolds(new Map([[order.paymentIntentId, 'processing']]), [order]);

    expect(await run()).toEqual({ ...NOTHING, waiting: 1 });

    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(order.id)).toMatchObject({ status: 'pending', locked_until: null });
    expect(await heldOf(mug.id)).toBe(2);
    expect(await outboxTopics(order.id)).toEqual([]);
    // The next run looks again.
    expect(await run()).toEqual({ ...NOTHING, waiting: 1 });
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledTimes(2);
  });

  test('no PaymentIntent at Stripe (its charge never got there): searched for, then the order canceled, nothing canceled at Stripe', async () => {
    const mug = await givenProduct({ stock: 5 });
    const orderId = await givenPendingOrderWithoutPaymentIntent(mug.id, 2);
    await placedAgo(orderId, 30);
    expect(await heldOf(mug.id)).toBe(2);

    expect(await run()).toEqual({ ...NOTHING, canceled: 1 });

    expect(mockPaymentIntentsSearch).toHaveBeenCalledWith({ query: `metadata['order_id']:'${orderId}'`, limit: 1 });
    expect(mockPaymentIntentsCancel).not.toHaveBeenCalled();
    expect(await orderRow(orderId)).toMatchObject({ status: 'canceled', cancel_reason: 'abandoned' });
    expect(await heldOf(mug.id)).toBe(0);
    expect(await historyOf(orderId)).toContainEqual({ type: 'canceled', source: 'scheduler' });
  });

  test('Stripe unreachable for one order: counted as an error, that order left as it was, the others still settled', async () => {
    const mug = await givenProduct({ stock: 10 });
    const down = await givenPendingOrder([{ productId: mug.id, quantity: 1 }]);
    const fine = await givenPendingOrder([{ productId: mug.id, quantity: 2 }]);
    await placedAgo(down.id, 40); // the oldest: asked first
    await placedAgo(fine.id, 30);
    stripeHolds(
      new Map<string, Stripe.PaymentIntent.Status | Error>([
        [down.paymentIntentId, connectionError()],
        [fine.paymentIntentId, 'requires_action'],
      ]),
      [down, fine],
    );
    stripeCancels();

    expect(await run()).toEqual({ ...NOTHING, canceled: 1, errors: 1 });

    expect(await orderRow(down.id)).toMatchObject({ status: 'pending', locked_until: null });
    expect(await orderRow(fine.id)).toMatchObject({ status: 'canceled' });
    expect(await heldOf(mug.id)).toBe(1);
    expect(logs()).toContainEqual(
      expect.objectContaining({ level: 'error', message: 'expire order failed', orderId: down.id }),
    );
  });

  test('a bounded batch, oldest first', async () => {
    const mug = await givenProduct({ stock: 10 });
    const orders = [
      await givenPendingOrderWithoutPaymentIntent(mug.id, 1),
      await givenPendingOrderWithoutPaymentIntent(mug.id, 1),
      await givenPendingOrderWithoutPaymentIntent(mug.id, 1),
    ];
    await placedAgo(orders[0] as string, 20);
    await placedAgo(orders[1] as string, 40);
    await placedAgo(orders[2] as string, 30);

    expect(await run({ batchSize: 2 })).toEqual({ ...NOTHING, canceled: 2 });

    expect((await orderRow(orders[1] as string))?.status).toBe('canceled');
    expect((await orderRow(orders[2] as string))?.status).toBe('canceled');
    expect((await orderRow(orders[0] as string))?.status).toBe('pending');
    expect(await run({ batchSize: 2 })).toEqual({ ...NOTHING, canceled: 1 });
  });

  test('an order a request is working on (live lease) is skipped', async () => {
    const mug = await givenProduct({ stock: 5 });
    const orderId = await givenPendingOrderWithoutPaymentIntent(mug.id, 1);
    await placedAgo(orderId, 30);
    await db().query(`UPDATE orders SET locked_until = now() + interval '30 seconds' WHERE id = $1`, [orderId]);

    expect(await run()).toEqual(NOTHING);

    expect(mockPaymentIntentsSearch).not.toHaveBeenCalled();
    expect(await orderRow(orderId)).toMatchObject({ status: 'pending' });
  });

  test('a refund whose call to Stripe failed more than a minute ago is sent again, once, with its own key', async () => {
    // Prepare: Stripe unreachable when the refund was asked for.
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockRejectedValueOnce(connectionError());
    const failed = await postRefund(order.id);
    expect(failed.statusCode).toBe(503);
    const refundId = failed.body.error.refundId as string;
    stripeRefunds();
    mockRefundsCreate.mockClear();
    // Under a minute old: its request may still be running, so it is not sent yet.
    expect(await run()).toEqual(NOTHING);
    expect(mockRefundsCreate).not.toHaveBeenCalled();
    await db().query(`UPDATE refunds SET created_at = now() - interval '2 minutes' WHERE id = $1`, [refundId]);

    // Act
    const summary = await run();

    // Assess
    expect(summary).toEqual({ ...NOTHING, refundsResent: 1 });
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      expect.objectContaining({ payment_intent: order.paymentIntentId, amount: 3000 }),
      { idempotencyKey: `refund-${refundId}` },
    );
    expect(await orderRow(order.id)).toMatchObject({ status: 'refunded' });
    expect(await inventoryOf(mug.id)).toBe(10);
    expect(await run()).toEqual(NOTHING);
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
  });

  test('a refund Stripe has and reports pending is not sent again: its webhook tells how it ends', async () => {
    const mug = await givenProduct({ priceCents: 1500, stock: 10 });
    const order = await givenPaidOrder([{ productId: mug.id, quantity: 2 }]);
    mockRefundsCreate.mockImplementation(async (params: { amount: number; payment_intent: string }) => ({
      ...stripeRefund({ amount: params.amount, currency: 'usd', paymentIntentId: params.payment_intent }),
      status: 'pending',
    }));
    expect((await postRefund(order.id)).statusCode).toBe(201);
    await db().query(`UPDATE refunds SET created_at = now() - interval '1 hour' WHERE order_id = $1`, [order.id]);
    mockRefundsCreate.mockClear();

    expect(await run()).toEqual(NOTHING);

    expect(mockRefundsCreate).not.toHaveBeenCalled();
  });
});

/**
 * Runs on committed rows, each with its own PostgreSQL pool (a Lambda container each), so nothing
 * makes them take turns: the transactional test Db would run them one statement at a time.
 */
describe('expireOrders against itself and other writers (committed rows)', () => {
  let world: CommittedWorld;
  const placed: string[] = [];

  beforeAll(async () => {
    world = await CommittedWorld.open(2);
  });

  afterAll(async () => {
    // order_events is append-only (a trigger refuses DELETE): the test's own rows go with the
    // triggers off for this transaction only, then the world deletes the rest.
    await world.db.transaction(async (tx) => {
      await tx.query('SET LOCAL session_replication_role = replica');
      await tx.query('DELETE FROM order_events WHERE order_id = ANY($1::uuid[])', [placed]);
      await tx.query('DELETE FROM outbox WHERE order_id = ANY($1::uuid[])', [placed]);
    });
    await world.close();
  });

  /** `count` committed orders waiting for 3-D Secure, placed an hour ago. */
  async function givenAbandonedOrders(label: string, count: number): Promise<Order[]> {
    const product = await world.givenProduct({ stock: 100 });
    stripeAnswers('requires_action');
    const orders: Order[] = [];
    for (let i = 0; i < count; i += 1) {
      const container = world.containers[0] as (typeof world.containers)[0];
      const response = await world.postOrder(
        container,
        orderBody([{ productId: product.id, quantity: 1 }]),
        world.idempotencyKey(`${label}-${i}`),
      );
      expect(response.statusCode).toBe(202);
      orders.push(response.body.order);
      placed.push(response.body.order.id);
    }
    await world.db.query(
      `UPDATE orders SET created_at = now() - interval '1 hour' - make_interval(secs => array_position($1::uuid[], id))
        WHERE id = ANY($1::uuid[])`,
      [orders.map((o) => o.id)],
    );
    mockPaymentIntentsCreate.mockReset();
    return orders;
  }

  async function statusOf(orderId: string): Promise<string | undefined> {
    const { rows } = await world.db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [orderId]);
    return rows[0]?.status;
  }

  test('two runs at once: each order is canceled once, and canceled at Stripe once', async () => {
    // Prepare
    const orders = await givenAbandonedOrders('two-runs', 6);
    stripeHolds(new Map(orders.map((o) => [o.paymentIntentId, 'requires_action' as const])), orders);
    stripeCancels();
    // Each run's first look at Stripe waits until the other run is at Stripe too: both hold an
    // order's lease at the same moment, so the runs truly overlap.
    let arrived = 0;
    let forcedOpen = false;
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const timer = setTimeout(() => {
      forcedOpen = true;
      open();
    }, 5_000);
    const looked = [new Set<string>(), new Set<string>()];
    const gated = (index: number): Deps => {
      const deps = (world.containers[index] as (typeof world.containers)[0]).deps;
      const payments: Payments = {
        ...deps.payments,
        findCharge: async (orderId, paymentIntentId) => {
          if (looked[index]?.size === 0) {
            arrived += 1;
            if (arrived === 2) open();
            await gate;
          }
          looked[index]?.add(orderId);
          await new Promise((r) => setImmediate(r)); // let the other run take its turn
          return deps.payments.findCharge(orderId, paymentIntentId);
        },
      };
      return { ...deps, payments };
    };

    // Act
    const summaries = await Promise.all([expireOrders(gated(0)), expireOrders(gated(1))]);
    clearTimeout(timer);

    // Assess
    expect(forcedOpen).toBe(false);
    for (const order of orders)
      expect({ order: order.id, status: await statusOf(order.id) }).toEqual({ order: order.id, status: 'canceled' });
    const cancels = mockPaymentIntentsCancel.mock.calls.map(([id]) => id as string);
    expect(cancels.sort()).toEqual(orders.map((o) => o.paymentIntentId).sort());
    const { rows } = await world.db.query<{ order_id: string; n: string }>(
      `SELECT order_id, count(*) AS n FROM order_events WHERE type = 'canceled' AND order_id = ANY($1::uuid[])
        GROUP BY order_id`,
      [orders.map((o) => o.id)],
    );
    expect(rows.map((r) => Number(r.n))).toEqual(orders.map(() => 1));
    // Both runs did part of the work, and no order was looked at by both.
    const mine = new Set(orders.map((o) => o.id));
    const seen = looked.map((s) => [...s].filter((id) => mine.has(id)));
    expect(seen[0]?.length).toBeGreaterThan(0);
    expect(seen[1]?.length).toBeGreaterThan(0);
    expect((seen[0]?.length ?? 0) + (seen[1]?.length ?? 0)).toBe(orders.length);
    expect(summaries[0].canceled + summaries[1].canceled).toBeGreaterThanOrEqual(orders.length);
  });

  test('an order another writer holds locked right now is passed over, not waited for', async () => {
    // Prepare: another writer (a transaction still open) holds the oldest order's row lock.
    const orders = await givenAbandonedOrders('locked', 3);
    stripeHolds(new Map(orders.map((o) => [o.paymentIntentId, 'requires_action' as const])), orders);
    stripeCancels();
    const oldest = orders[orders.length - 1] as Order;
    const writer = new Client({ connectionString: testEnvironment().databaseUrl });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query('SELECT 1 FROM orders WHERE id = $1 FOR UPDATE', [oldest.id]);

      // Act: the run must end while the lock is still held.
      const running = expireOrders((world.containers[1] as (typeof world.containers)[0]).deps);
      let timer: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        running.then(() => true),
        new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), 3_000);
        }),
      ]);
      clearTimeout(timer);
      await writer.query('ROLLBACK');
      await running;

      // Assess
      expect(finished).toBe(true);
      expect(await statusOf(oldest.id)).toBe('pending');
      for (const order of orders.slice(0, -1)) expect(await statusOf(order.id)).toBe('canceled');
      expect(mockPaymentIntentsCancel.mock.calls.map(([id]) => id)).not.toContain(oldest.paymentIntentId);
    } finally {
      await writer.end();
    }
  });
});
