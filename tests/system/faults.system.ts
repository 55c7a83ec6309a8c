import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import Stripe from 'stripe';
import { freePort, ROOT } from '../../scripts/local-stack';
import type { FaultMode } from '../../scripts/stripe-double';
import { apiGatewayEvent } from '../helpers/events';
import {
  type Container,
  givenProduct,
  inventoryOf,
  orderBody,
  type SystemStack,
  startSystemStack,
  WEBHOOK_SECRET,
} from './system-stack';

/** Real faults, injected for real: a failing Stripe, a killed process, a Redis that forgets, a PostgreSQL restart, a webhook storm. */
async function orderRow(stack: SystemStack, orderId: string) {
  const { rows } = await stack.db.query('SELECT status, payment_intent_id, failure_code FROM orders WHERE id = $1', [
    orderId,
  ]);
  return rows[0];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('faults against committed data and Lambda containers as processes', () => {
  let stack: SystemStack;
  let lambda: Container;
  let hold: ((intent: Record<string, unknown>) => Promise<void>) | undefined;

  beforeAll(async () => {
    stack = await startSystemStack({ double: { beforeAnswer: (intent) => hold?.(intent) ?? Promise.resolve() } });
    lambda = await stack.container();
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  test.each<[FaultMode, string]>([
    ['500', 'answers 500'],
    ['timeout', 'charges, then never answers (timeout)'],
    ['drop', 'charges, then drops the connection'],
  ])(
    'Stripe %s (%s): 503, order pending, hold kept; the retry with the same key ends with exactly one charge',
    async (mode) => {
      const sku = await givenProduct(stack.db, 3);
      const key = randomUUID();
      // Twice: the SDK retries once by itself (with the same idempotency key) before giving up.
      stack.double.injectFault(mode, 2);

      const failed = await lambda.placeOrder(orderBody(sku, 2), key);

      expect(failed.statusCode).toBe(503);
      expect(failed.body.error.code).toBe('payment_provider_unavailable');
      expect(failed.headers['Retry-After']).toBeDefined();
      const orderId = failed.body.error.orderId;
      expect(await orderRow(stack, orderId)).toMatchObject({ status: 'pending' });
      expect(await stack.redis.hgetall(`reservation:${orderId}`)).toEqual({ [sku]: '2' });
      expect(await inventoryOf(stack.db, sku)).toBe(3);
      expect(stack.double.intentsFor(orderId)).toHaveLength(mode === '500' ? 0 : 1);

      const retried = await lambda.placeOrder(orderBody(sku, 2), key);

      expect(retried.statusCode).toBe(201);
      expect(retried.body.order).toMatchObject({ id: orderId, status: 'paid' });
      expect(stack.double.intentsFor(orderId)).toHaveLength(1);
      expect(retried.body.order.paymentIntentId).toBe(stack.double.intentsFor(orderId)[0]?.id);
      expect(await inventoryOf(stack.db, sku)).toBe(1);
      expect(await stack.redis.exists(`reservation:${orderId}`)).toBe(0);
    },
  );

  test('the process is killed (SIGKILL) after Stripe charged and before the commit: the retry finds the PaymentIntent and ends paid with one charge', async () => {
    const sku = await givenProduct(stack.db, 3);
    const key = randomUUID();
    const victim = await stack.container();
    let charged: (id: string) => void = () => undefined;
    const chargedOrder = new Promise<string>((resolve) => (charged = resolve));
    hold = async (intent) => {
      hold = undefined;
      charged((intent.metadata as { order_id: string }).order_id);
      await sleep(300); // the answer is still on its way when the container dies
    };

    const dying = victim.placeOrder(orderBody(sku, 1), key).catch((e: Error) => e);
    const orderId = await chargedOrder;
    victim.kill();

    expect(await dying).toEqual(new Error('container died'));
    expect(await orderRow(stack, orderId)).toMatchObject({ status: 'pending', payment_intent_id: null });
    expect(stack.double.intentsFor(orderId)).toHaveLength(1);
    const tooSoon = await lambda.placeOrder(orderBody(sku, 1), key);
    expect([tooSoon.statusCode, tooSoon.body.error?.code]).toEqual([409, 'idempotency_in_progress']);

    await sleep(2_100); // REQUEST_LOCK_SECONDS=2: the dead request's claim runs out
    const retried = await lambda.placeOrder(orderBody(sku, 1), key);

    expect(retried.statusCode).toBe(201);
    expect(retried.body.order).toMatchObject({
      id: orderId,
      status: 'paid',
      paymentIntentId: stack.double.intentsFor(orderId)[0]?.id,
    });
    expect(stack.double.intentsFor(orderId)).toHaveLength(1);
    expect(await inventoryOf(stack.db, sku)).toBe(2);
  });

  test('Redis loses everything (FLUSHALL) after a paid order: the retry replays it from PostgreSQL, no new order, no new charge', async () => {
    const sku = await givenProduct(stack.db, 3);
    const key = randomUUID();
    const first = await lambda.placeOrder(orderBody(sku, 1), key);
    const charges = stack.double.stats.paymentIntentsCreated;

    await stack.redis.flushall();
    const retried = await lambda.placeOrder(orderBody(sku, 1), key);

    expect(retried.statusCode).toBe(201);
    expect(retried.body).toEqual(first.body);
    expect(retried.headers['Idempotent-Replayed']).toBe('true');
    expect(stack.double.stats.paymentIntentsCreated).toBe(charges);
    const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM orders WHERE idempotency_key = $1', [key]);
    expect(rows[0]).toEqual({ n: 1 });
    expect(await inventoryOf(stack.db, sku)).toBe(2);
  });

  test('Redis loses its holds (FLUSHALL) between a 503 and its retry: no oversell, no second charge', async () => {
    const sku = await givenProduct(stack.db, 2);
    const keyA = randomUUID();
    stack.double.injectFault('500', 2);
    const a = await lambda.placeOrder(orderBody(sku, 1), keyA); // holds 1, Stripe unavailable
    expect(a.statusCode).toBe(503);

    await stack.redis.flushall(); // the hold is gone
    const b = await lambda.placeOrder(orderBody(sku, 2)); // takes both units
    const retriedA = await lambda.placeOrder(orderBody(sku, 1), keyA);

    expect(b.statusCode).toBe(201);
    expect(retriedA.statusCode).toBe(409);
    expect(retriedA.body.error).toMatchObject({ code: 'insufficient_inventory', orderId: a.body.error.orderId });
    expect(stack.double.intentsFor(a.body.error.orderId)).toHaveLength(0);
    expect(await inventoryOf(stack.db, sku)).toBe(0);
  });

  test("a webhook storm: every event delivered 3 times in shuffled order from 4 containers; each order ends in its latest event's status (as Stripe holds it) and stock matches", async () => {
    const sku = await givenProduct(stack.db, 100);
    const containers = [lambda, ...(await Promise.all([1, 2, 3].map(() => stack.container())))];
    const orders: { id: string; paymentIntentId: string; amountCents: number }[] = [];
    for (let i = 0; i < 20; i += 1) {
      const r = await lambda.placeOrder(orderBody(sku, 1 + (i % 3), 'pm_card_authenticationRequired'));
      expect(r.statusCode).toBe(202);
      orders.push(r.body.order);
    }
    const base = Math.floor(Date.now() / 1000) - 100;
    const expected = new Map<string, string>();
    const deliveries: string[] = [];
    orders.forEach((order, i) => {
      // 1-3 events per order with scattered timestamps (some in the same second).
      const events = Array.from({ length: 1 + (i % 3) }, (_, j) => {
        const type = (i + j) % 2 === 0 ? 'payment_intent.succeeded' : 'payment_intent.payment_failed';
        const created = base + ((i * 7 + j * 13) % 5);
        return {
          id: `evt_storm_${i}_${j}`,
          object: 'event',
          type,
          created,
          data: {
            object: {
              id: order.paymentIntentId,
              object: 'payment_intent',
              status: type.endsWith('succeeded') ? 'succeeded' : 'requires_payment_method',
              amount: order.amountCents,
              currency: 'usd',
              metadata: { order_id: order.id },
              last_payment_error: type.endsWith('failed')
                ? { code: 'card_declined', decline_code: 'generic_decline' }
                : null,
            },
          },
        };
      });
      const latest = [...events]
        .sort((x, y) => x.created - y.created || (x.type.endsWith('succeeded') ? 1 : -1))
        .at(-1);
      expected.set(order.id, latest?.type.endsWith('succeeded') ? 'paid' : 'failed');
      for (const e of events) for (let copy = 0; copy < 3; copy += 1) deliveries.push(JSON.stringify(e));
    });
    // At Stripe, a PaymentIntent is where its latest event says: the double is put there too, since
    // a newer failure for a paid order is applied only when Stripe, asked, says it did not succeed.
    for (const order of orders) {
      const outcome = expected.get(order.id) === 'paid' ? 'succeed' : 'fail';
      const answer = await fetch(`${stack.double.url}/_double/payment_intents/${order.paymentIntentId}/authenticate`, {
        method: 'POST',
        body: `outcome=${outcome}`,
      });
      expect(answer.status).toBe(200);
    }
    deliveries.sort(() => Math.random() - 0.5);

    const deliver = (payload: string, i: number) =>
      (containers[i % containers.length] as Container).invoke(
        'stripeWebhook',
        apiGatewayEvent({
          method: 'POST',
          path: '/webhooks/stripe',
          rawBody: payload,
          headers: {
            'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }),
          },
        }),
      );
    const responses = await Promise.all(deliveries.map(deliver));

    // A copy that met its event id in progress in another container gets 409 with Retry-After, and
    // Stripe delivers it again later: as it does here, once, after the storm.
    const inProgress = responses.flatMap((r, i) => (r.statusCode === 409 ? [i] : []));
    for (const i of inProgress) expect(responses[i]?.body.error.code).toBe('idempotency_in_progress');
    expect(responses.filter((r) => r.statusCode !== 200 && r.statusCode !== 409)).toEqual([]);
    const redelivered = await Promise.all(inProgress.map((i) => deliver(deliveries[i] as string, i)));
    expect(redelivered.map((r) => [r.statusCode, r.body])).toEqual(
      redelivered.map(() => [200, { received: true, duplicate: true }]),
    );
    const { rows } = await stack.db.query<{ id: string; status: string; quantity: number }>(
      'SELECT o.id, o.status, i.quantity FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = ANY($1::uuid[])',
      [orders.map((o) => o.id)],
    );
    expect(new Map(rows.map((r) => [r.id, r.status]))).toEqual(expected);
    const sold = rows.filter((r) => r.status === 'paid').reduce((sum, r) => sum + r.quantity, 0);
    expect(await inventoryOf(stack.db, sku)).toBe(100 - sold);
    // Stock given back drops the mirror (the next order reloads it from PostgreSQL, counting the units
    // once); where it is there, it is the truth.
    const mirror = await stack.redis.get(`stock:${sku}`);
    if (mirror !== null) expect(Number(mirror)).toBe(100 - sold);
    expect(Number((await stack.redis.get(`held:${sku}`)) ?? 0)).toBe(0);
  });
});

describe('PostgreSQL restarted during a load run', () => {
  let pgProcess: ChildProcess;
  let stack: SystemStack;

  const command = (c: string) =>
    new Promise<void>((resolve, reject) => {
      pgProcess.once('message', (m: string) => (m === 'done' ? resolve() : reject(new Error(m))));
      pgProcess.send(c);
    });

  beforeAll(async () => {
    const port = await freePort();
    pgProcess = fork(join(__dirname, 'embedded-postgres-process.ts'), [String(port)], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      pgProcess.once('message', () => resolve());
      pgProcess.once('exit', (code) => reject(new Error(`embedded PostgreSQL exited (${code})`)));
    });
    stack = await startSystemStack({ databaseUrl: `postgres://postgres:postgres@127.0.0.1:${port}/orders_restart` });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (pgProcess?.connected) await command('close').catch(() => undefined);
  });

  test('requests in flight get 503, nothing half-written remains, and the same containers recover without a restart', async () => {
    const sku = await givenProduct(stack.db, 1_000_000);
    const containers = await Promise.all([1, 2, 3, 4].map(() => stack.container()));
    const keys: string[] = [];
    const statuses: number[] = [];
    let running = true;
    const load = containers.map(async (c) => {
      while (running) {
        const key = randomUUID();
        keys.push(key);
        const r = await c.placeOrder(orderBody(sku, 1), key);
        statuses.push(r.statusCode);
        if (r.statusCode >= 500)
          expect(['service_unavailable', 'payment_provider_unavailable']).toContain(r.body.error.code);
      }
    });

    await sleep(500);
    await command('stop');
    await sleep(500);
    await command('start');
    await sleep(1_500);
    running = false;
    await Promise.all(load);

    // Recovered: the same containers serve new orders, and every interrupted request can be retried.
    for (const c of containers) expect((await c.placeOrder(orderBody(sku, 1))).statusCode).toBe(201);
    await sleep(2_100); // REQUEST_LOCK_SECONDS: claims of the interrupted requests run out
    const retries = [];
    for (const key of keys) retries.push(await (containers[0] as Container).placeOrder(orderBody(sku, 1), key));
    expect(retries.filter((r) => r.statusCode !== 201).map((r) => r.body)).toEqual([]);

    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    // Nothing half-written: every order has its line; all are paid now; stock and charges add up.
    // (The test's own connection died with the restart too: a new one.)
    const db = new Client({ connectionString: stack.databaseUrl });
    await db.connect();
    const { rows } = await db.query<{ status: string; n: number; lines: number }>(
      `SELECT o.status, count(*)::int AS n, count(i.order_id)::int AS lines FROM orders o LEFT JOIN order_items i ON i.order_id = o.id GROUP BY o.status`,
    );
    const paid = keys.length + containers.length;
    expect(rows).toEqual([{ status: 'paid', n: paid, lines: paid }]);
    expect(await inventoryOf(db, sku)).toBe(1_000_000 - paid);
    await db.end();
    expect(stack.double.stats.paymentIntentsCreated).toBe(paid);
    process.stdout.write(
      `PostgreSQL restart: ${statuses.length} requests during the run, ${statuses.filter((s) => s === 503).length} got 503, ${paid} orders paid in the end\n`,
    );
  });
});
