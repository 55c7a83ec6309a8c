import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ScheduledEvent } from 'aws-lambda';
import { Client } from 'pg';
import { keys } from '../../lib/keys';
import type { ExpireSummary } from '../../lib/orders/expire-orders';
import { dropDatabase } from '../../scripts/local-stack';
import { testEnvironment } from '../../scripts/test-environment';
import { apiGatewayEvent } from '../helpers/events';
import {
  answerOf,
  type Container,
  givenProduct,
  type HttpResult,
  orderBody,
  type SystemStack,
  startSystemStack,
  Tally,
  WEBHOOK_SECRET,
} from './system-stack';

/**
 * The order lifecycle's races across processes (issue 11, "How to prove it", system tier): the
 * cancel route, the scheduled expireOrders and refunds, each racing Stripe's webhooks for the same
 * orders. Lambda containers are processes against committed data; the Stripe double is Stripe, and
 * delivers its own signed events (payment_intent.*, refund.*, charge.refunded) to the webhook
 * handler in other containers, as `stripe listen --forward-to` would. Every scenario runs
 * REPETITIONS times with a sampler watching Redis and PostgreSQL (live holds never above the stock
 * mirror, stock never below 0 nor above what it started at), and each repetition ends, once Stripe's
 * deliveries have settled, with the books checked:
 *
 * - stock (PostgreSQL, and the Redis mirror when loaded) = initial - what orders that took stock still
 *   hold (bought - restocked_quantity), and restocked_quantity = the units of the refunds that ever
 *   succeeded (a refund Stripe fails later leaves its stock given back, never given back twice); no
 *   live hold, no reservation left;
 * - money: for every order, the double's captured minus refunded = what the order says it kept
 *   (amount - succeeded refunds for paid/refunded; 0 for failed and canceled: a canceled order that
 *   was paid has every capture refunded); every Stripe refund is one refund row of ours, same status;
 * - no refund left pending, no cancel left waiting, no 5xx anywhere (every answer is tallied).
 *
 * A repetition that breaks something is recorded and the next one runs; the summary says how many
 * broke and how, and the test then fails with every problem found.
 */
const CONTAINERS = 6;
/** Containers 0 and 1 take the routes and the scheduler; Stripe's deliveries go to the other four. */
const WEBHOOK_CONTAINERS = [2, 3, 4, 5];
const REPETITIONS = 20;
const PRICE_CENTS = 1000;
/** PENDING_ORDER_TIMEOUT_SECONDS: orders this old are the scheduler's (B, C wait this long, for real). */
const PENDING_TIMEOUT_SECONDS = 1;

type Json = Record<string, unknown>;

let stack: SystemStack;
let c: Container[];
let samplerDb: Client;
let deliveries: Deliveries;
let stripeProxy: StripeProxy;
let databaseUrl: string | undefined;

beforeAll(async () => {
  deliveries = await startDeliveries();
  // A name of this suite's own (never CI's or another suite's scratch database); dropped in afterAll.
  databaseUrl = Object.assign(new URL(testEnvironment().databaseUrl), {
    pathname: `/orders_system_lifecycle_${randomUUID().slice(0, 8)}`,
  }).toString();
  stack = await startSystemStack({
    databaseUrl,
    double: { webhookUrl: deliveries.url, webhookSecret: WEBHOOK_SECRET, deliveryDelayMs: 0 },
    env: {
      // Stripe's own timeout, as in races.system.ts: a slow answer under load is not an SDK retry.
      STRIPE_TIMEOUT_MS: '10000',
      PENDING_ORDER_TIMEOUT_SECONDS: String(PENDING_TIMEOUT_SECONDS),
      // No AWS here: the outbox's rows are logged (and marked published), not sent to EventBridge.
      EVENTS_LOG_ONLY: 'true',
    },
  });
  // The route and scheduler containers reach the double through a proxy that can hold its answers.
  stripeProxy = await startStripeProxy(stack.double.url);
  c = await Promise.all(
    Array.from({ length: CONTAINERS }, (_, i) =>
      stack.container(WEBHOOK_CONTAINERS.includes(i) ? {} : { STRIPE_API_BASE: stripeProxy.url }),
    ),
  );
  samplerDb = new Client({ connectionString: stack.databaseUrl });
  samplerDb.on('error', () => undefined);
  await samplerDb.connect();
}, 120_000);

afterAll(async () => {
  await samplerDb?.end().catch(() => undefined);
  await stack?.stop();
  await deliveries?.close();
  await stripeProxy?.close();
  if (databaseUrl) await dropDatabase(databaseUrl).catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const after = <T>(ms: number, run: () => Promise<T>) => sleep(ms).then(run);
const short = (id: string) => id.slice(0, 8);
const container = (i: number) => c[i % CONTAINERS] as Container;

/** One scenario's record: problems per repetition, answers, outcomes, samples; printed at the end. */
class ScenarioRecord {
  readonly tally = new Tally();
  readonly outcomes = new Tally();
  readonly failures: string[] = [];
  private readonly failedReps = new Set<number>();
  samples = 0;
  notes: string[] = [];
  constructor(readonly name: string) {}
  end(repetition: number, problems: string[]): void {
    for (const p of problems) this.failures.push(`#${repetition}: ${p}`);
    if (problems.length > 0) this.failedReps.add(repetition);
  }
  print(): void {
    const failed = [...this.failedReps];
    process.stdout.write(
      `${[
        this.name,
        `  ${REPETITIONS - failed.length}/${REPETITIONS} repetitions clean${failed.length ? `; broken: #${failed.join(', #')}` : ''}; ${this.samples} samples`,
        `  answers: ${this.tally}`,
        `  outcomes: ${this.outcomes}`,
        ...this.notes.map((n) => `  ${n}`),
        ...this.failures.slice(0, 15).map((f) => `  ${f}`),
        ...(this.failures.length > 15 ? [`  ... ${this.failures.length - 15} more`] : []),
      ].join('\n')}\n`,
    );
  }
}

function expectNoProblems(record: ScenarioRecord): void {
  record.print();
  expect(record.failures).toEqual([]);
}

/**
 * Stripe's side of the webhook: the double posts each event here (its webhookUrl) and this hands it,
 * raw body and Stripe-Signature as sent, to the webhook handler of the next webhook container, and
 * answers the double with the handler's status (a non-2xx is retried by the double, as by Stripe).
 */
interface Deliveries {
  url: string;
  /** The repetition running now: its tally counts the deliveries, its problems get their failures. */
  attach(record: ScenarioRecord, problems: string[], jitterMs: number): void;
  /** Resolves once no delivery is under way and none has arrived for a while (retries included). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function startDeliveries(): Promise<Deliveries> {
  let inFlight = 0;
  let lastActivity = Date.now();
  let refusedSinceSettled = false;
  let next = 0;
  let closing = false;
  let current: { record: ScenarioRecord; problems: string[]; jitterMs: number } | undefined;

  const readAll = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  async function forward(req: IncomingMessage): Promise<HttpResult> {
    const raw = await readAll(req);
    const at = current;
    const type = (JSON.parse(raw) as { type?: string }).type ?? 'unknown';
    // A random few ms, so the deliveries and the requests they race interleave differently each time.
    if (at && at.jitterMs > 0) await sleep(Math.random() * at.jitterMs);
    const via = container(WEBHOOK_CONTAINERS[next++ % WEBHOOK_CONTAINERS.length] as number);
    const r = await via.invoke(
      'stripeWebhook',
      apiGatewayEvent({
        method: 'POST',
        path: '/webhooks/stripe',
        rawBody: raw,
        headers: { 'stripe-signature': String(req.headers['stripe-signature'] ?? '') },
      }),
    );
    if (r.statusCode >= 300) refusedSinceSettled = true;
    if (at) {
      at.record.tally.add(`webhook ${type}`, r, at.problems);
      // 409 idempotency_in_progress is Stripe's redelivery meeting the first: retried, fine. Any other
      // 4xx is an event of Stripe's own the service refused.
      const inProgress = r.statusCode === 409 && r.body?.error?.code === 'idempotency_in_progress';
      if (r.statusCode >= 400 && r.statusCode < 500 && !inProgress)
        at.problems.push(`Stripe's ${type} refused: ${answerOf('webhook', r)} ${JSON.stringify(r.body)}`);
    }
    return r;
  }

  const server = createServer((req, res) => {
    inFlight += 1;
    lastActivity = Date.now();
    const work = closing ? Promise.reject(new Error('closing')) : forward(req);
    work
      .then(
        (r) => {
          res.writeHead(r.statusCode, { 'content-type': 'application/json' });
          res.end(JSON.stringify(r.body ?? {}));
        },
        (error: unknown) => {
          refusedSinceSettled = true;
          if (!closing) current?.problems.push(`delivery failed: ${String(error)}`);
          res.writeHead(503);
          res.end();
        },
      )
      .finally(() => {
        inFlight -= 1;
        lastActivity = Date.now();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    attach: (record, problems, jitterMs) => {
      current = { record, problems, jitterMs };
    },
    settle: async () => {
      // Quiet for a while from now: an event the double emitted just before is on its way (its
      // delivery is started on a timer); after a refused delivery the double retries in 200-400 ms.
      const since = Date.now();
      for (;;) {
        const quietFor = refusedSinceSettled ? 1_000 : 150;
        if (inFlight === 0 && Date.now() - Math.max(lastActivity, since) >= quietFor) break;
        await sleep(20);
      }
      refusedSinceSettled = false;
    },
    close: async () => {
      closing = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Between the route containers and the double: passes every call through, and can hold the double's
 * answer to a call (it has been applied at the double, which has sent its events) before passing it on,
 * as a slow network back from Stripe would: the events then reach the webhook while the route waits.
 */
interface StripeProxy {
  url: string;
  /** `hold(method, path)`: how long to hold the double's answer (ms); undefined: none. */
  holdAnswers(hold: ((method: string, path: string) => number) | undefined): void;
  /** How many calls went through to this path, e.g. `POST /v1/payment_intents/pi_1/cancel`. */
  calls(methodAndPath: string): number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

async function startStripeProxy(target: string): Promise<StripeProxy> {
  let hold: ((method: string, path: string) => number) | undefined;
  const calls = new Map<string, number>();
  const server = createServer((req, res) => {
    (async () => {
      const call = `${req.method} ${new URL(req.url ?? '/', target).pathname}`;
      calls.set(call, (calls.get(call) ?? 0) + 1);
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.entries(req.headers)
        .filter(([name, value]) => !HOP_BY_HOP.has(name) && typeof value === 'string')
        .map(([name, value]) => [name, value as string] as [string, string]);
      const upstream = await fetch(`${target}${req.url ?? '/'}`, {
        method: req.method,
        headers,
        ...(req.method === 'GET' ? {} : { body: Buffer.concat(chunks) }),
      });
      const body = await upstream.text();
      const ms = hold?.(req.method ?? 'GET', new URL(req.url ?? '/', target).pathname);
      if (ms) await sleep(ms);
      const replayed = upstream.headers.get('idempotent-replayed');
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
        ...(replayed ? { 'idempotent-replayed': replayed } : {}),
      });
      res.end(body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    holdAnswers: (h) => {
      hold = h;
    },
    calls: (call) => calls.get(call) ?? 0,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs while a race runs: live holds never above the mirror, stock never below 0 nor above its start. */
function startSampler(initial: Record<string, number>) {
  const products = Object.keys(initial);
  const violations = new Set<string>();
  let samples = 0;
  let running = true;
  const redisKeys = products.flatMap((p) => [keys.held(p), keys.stock(p)]);
  const loop = (async () => {
    while (running) {
      const redisSample = (await stack.redis.eval(
        `local out = {}
         for i = 1, #KEYS, 2 do
           out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
           out[#out + 1] = redis.call('GET', KEYS[i + 1]) or false
         end
         return out`,
        redisKeys.length,
        ...redisKeys,
      )) as (string | null)[];
      const { rows } = await samplerDb.query<{ product_id: string; quantity: number }>(
        'SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1::text[])',
        [products],
      );
      samples += 1;
      products.forEach((p, i) => {
        const held = Number(redisSample[2 * i]);
        const mirror = redisSample[2 * i + 1] ?? null;
        if (mirror !== null && held > Number(mirror))
          violations.add(`${p}: live holds ${held} > stock mirror ${mirror}`);
        if (held > (initial[p] as number)) violations.add(`${p}: live holds ${held} > initial stock ${initial[p]}`);
      });
      for (const r of rows) {
        if (r.quantity < 0) violations.add(`${r.product_id}: inventory ${r.quantity} < 0`);
        if (r.quantity > (initial[r.product_id] as number))
          violations.add(
            `${r.product_id}: inventory ${r.quantity} > initial ${initial[r.product_id]} (given back twice)`,
          );
      }
    }
  })();
  return {
    stop: async (problems: string[]): Promise<number> => {
      running = false;
      await loop;
      for (const v of violations) problems.push(`sampler: ${v}`);
      return samples;
    },
  };
}

interface OrderRow {
  id: string;
  status: string;
  amount_cents: number;
  payment_intent_id: string | null;
  cancel_reason: string | null;
  cancel_requested: boolean;
}

interface HistoryRow {
  order_id: string;
  type: string;
  source: string;
  data: Json;
}

/**
 * The books after a repetition, over every order with a line of these products (see the file
 * comment). `failedAfterSuccess`: Stripe refund ids this test made fail after they had succeeded
 * (their units stay given back). Returns the problems, the orders and their history.
 */
async function checkBooks(
  initial: Record<string, number>,
  failedAfterSuccess: ReadonlySet<string> = new Set(),
): Promise<{ problems: string[]; orders: OrderRow[]; history: HistoryRow[] }> {
  const problems: string[] = [];
  const products = Object.keys(initial);
  const { rows: orders } = await stack.db.query<OrderRow>(
    `SELECT o.id, o.status, o.amount_cents, o.payment_intent_id, o.cancel_reason,
            o.cancel_requested_at IS NOT NULL AS cancel_requested
       FROM orders o
      WHERE o.id IN (SELECT order_id FROM order_items WHERE product_id = ANY($1::text[])) ORDER BY o.id`,
    [products],
  );
  const ids = orders.map((o) => o.id);
  const { rows: items } = await stack.db.query<{
    order_id: string;
    product_id: string;
    quantity: number;
    refunded_quantity: number;
    restocked_quantity: number;
  }>(
    'SELECT order_id, product_id, quantity, refunded_quantity, restocked_quantity FROM order_items WHERE order_id = ANY($1::uuid[])',
    [ids],
  );
  const { rows: refunds } = await stack.db.query<{
    id: string;
    order_id: string;
    amount_cents: number;
    status: string;
    stripe_refund_id: string | null;
  }>('SELECT id, order_id, amount_cents, status, stripe_refund_id FROM refunds WHERE order_id = ANY($1::uuid[])', [
    ids,
  ]);
  const { rows: refundItems } = await stack.db.query<{ refund_id: string; product_id: string; quantity: number }>(
    'SELECT ri.refund_id, ri.product_id, ri.quantity FROM refund_items ri JOIN refunds r ON r.id = ri.refund_id WHERE r.order_id = ANY($1::uuid[])',
    [ids],
  );
  const { rows: history } = await stack.db.query<HistoryRow>(
    'SELECT order_id, type, source, data FROM order_events WHERE order_id = ANY($1::uuid[]) ORDER BY id',
    [ids],
  );
  const { rows: outbox } = await stack.db.query<{ order_id: string; topic: string }>(
    'SELECT order_id, topic FROM outbox WHERE order_id = ANY($1::uuid[])',
    [ids],
  );

  const expected: Record<string, number> = { ...initial };
  for (const o of orders) {
    const name = `order ${short(o.id)} (${o.status})`;
    if (!['paid', 'refunded', 'failed', 'canceled'].includes(o.status)) problems.push(`${name} left ${o.status}`);
    if (o.cancel_requested && o.status !== 'canceled') problems.push(`${name}: a cancel left waiting`);
    const own = refunds.filter((r) => r.order_id === o.id);
    const unsettled = own.filter((r) => r.status === 'pending');
    if (unsettled.length > 0) problems.push(`${name}: ${unsettled.length} refunds left pending`);
    const succeeded = own.filter((r) => r.status === 'succeeded');
    const refundedCents = succeeded.reduce((sum, r) => sum + r.amount_cents, 0);
    const events = history.filter((h) => h.order_id === o.id);
    const wasPaid = events.some((h) => h.type === 'paid');
    const count = (type: string) => events.filter((h) => h.type === type).length;
    if (count('paid') > 1) problems.push(`${name}: entered paid ${count('paid')} times`);
    if (count('canceled') > 1) problems.push(`${name}: canceled ${count('canceled')} times`);
    if (o.status === 'canceled' && count('canceled') === 0) problems.push(`${name}: no 'canceled' in its history`);
    const published = outbox.filter((e) => e.order_id === o.id && e.topic === 'order.canceled').length;
    if (published !== count('canceled'))
      problems.push(`${name}: ${count('canceled')} 'canceled' in its history, ${published} order.canceled published`);

    // Stock: an order that was paid took its units (once), and holds what its refunds did not give back.
    const takesStock = wasPaid && o.status !== 'failed';
    const everSucceeded = new Set(
      own
        .filter(
          (r) =>
            r.status === 'succeeded' || (r.stripe_refund_id !== null && failedAfterSuccess.has(r.stripe_refund_id)),
        )
        .map((r) => r.id),
    );
    const counted = new Set(own.filter((r) => r.status === 'succeeded' || r.status === 'pending').map((r) => r.id));
    let keptUnits = 0;
    for (const line of items.filter((i) => i.order_id === o.id)) {
      const unitsOf = (refundIds: Set<string>) =>
        refundItems
          .filter((ri) => refundIds.has(ri.refund_id) && ri.product_id === line.product_id)
          .reduce((sum, ri) => sum + ri.quantity, 0);
      if (line.refunded_quantity !== unitsOf(counted))
        problems.push(
          `${name} ${line.product_id}: refunded_quantity ${line.refunded_quantity}, its refunds count ${unitsOf(counted)}`,
        );
      if (line.restocked_quantity !== (takesStock ? unitsOf(everSucceeded) : 0))
        problems.push(
          `${name} ${line.product_id}: restocked_quantity ${line.restocked_quantity}, refunds that succeeded gave back ${unitsOf(everSucceeded)}`,
        );
      keptUnits += line.quantity - line.refunded_quantity;
      if (takesStock && line.product_id in expected)
        expected[line.product_id] = (expected[line.product_id] as number) - (line.quantity - line.restocked_quantity);
    }
    if (o.status === 'refunded' && (keptUnits !== 0 || refundedCents !== o.amount_cents))
      problems.push(`${name} keeps ${keptUnits} units and ${o.amount_cents - refundedCents} cents`);
    if (o.status === 'paid' && (keptUnits === 0 || refundedCents >= o.amount_cents))
      problems.push(`${name} keeps ${keptUnits} units and ${o.amount_cents - refundedCents} cents`);

    // Money: the double's captured minus refunded, against what the order says it kept.
    const intents = stack.double.intentsFor(o.id);
    const stripeRefunds = intents.flatMap((pi) => stack.double.refundsFor(String(pi.id)));
    const captured = intents.filter((pi) => pi.status === 'succeeded').reduce((sum, pi) => sum + Number(pi.amount), 0);
    // Canceled: a paid order's refunds returned its amount; one never paid returned whatever Stripe
    // captured anyway (a payment that succeeded after the cancel is refunded whole, money only).
    if (o.status === 'canceled' && refundedCents !== (wasPaid ? o.amount_cents : captured))
      problems.push(
        `${name}: ${wasPaid ? 'was paid' : `never paid, ${captured} captured`}, its refunds returned ${refundedCents}`,
      );
    const returned = stripeRefunds
      .filter((r) => r.status === 'succeeded')
      .reduce((sum, r) => sum + Number(r.amount), 0);
    const orderKeeps = o.status === 'paid' || o.status === 'refunded' ? o.amount_cents - refundedCents : 0;
    if (captured - returned !== orderKeeps)
      problems.push(
        `money: ${name} says it kept ${orderKeeps}, Stripe kept ${captured - returned} (captured ${captured}, refunded ${returned})`,
      );
    if (o.status === 'paid' && !intents.some((pi) => pi.id === o.payment_intent_id && pi.status === 'succeeded'))
      problems.push(`${name}: its PaymentIntent is ${intents.map((pi) => pi.status).join(', ')} at Stripe`);
    // Every Stripe refund is one of our rows, with its status; no row was refunded twice at Stripe.
    const byRow = new Map<string, number>();
    for (const sr of stripeRefunds) {
      const row = own.find((r) => r.stripe_refund_id === sr.id);
      if (!row) problems.push(`${name}: Stripe refund ${String(sr.id)} (${String(sr.status)}) is no refund of ours`);
      else if (row.status !== sr.status || row.amount_cents !== sr.amount)
        problems.push(
          `${name}: refund ${short(row.id)} is ${row.status} ${row.amount_cents}, at Stripe ${String(sr.status)} ${String(sr.amount)}`,
        );
      const rowId = String((sr.metadata as Json | undefined)?.refund_id ?? sr.id);
      byRow.set(rowId, (byRow.get(rowId) ?? 0) + 1);
    }
    for (const [rowId, n] of byRow)
      if (n > 1) problems.push(`${name}: refund ${short(rowId)} made ${n} times at Stripe`);
    if (await stack.redis.exists(keys.reservation(o.id))) problems.push(`${name} still has a reservation`);
  }

  const { rows: inventory } = await stack.db.query<{ product_id: string; quantity: number }>(
    'SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1::text[])',
    [products],
  );
  for (const p of products) {
    const want = expected[p] as number;
    const got = inventory.find((r) => r.product_id === p)?.quantity;
    if (got !== want)
      problems.push(
        `stock ${p}: PostgreSQL ${got}, expected ${want} (initial ${initial[p]} - held by orders ${(initial[p] as number) - want})`,
      );
    const mirror = await stack.redis.get(keys.stock(p));
    if (mirror !== null && Number(mirror) !== want)
      problems.push(`stock ${p}: Redis mirror ${mirror}, expected ${want}`);
    const held = await stack.redis.get(keys.held(p));
    if (held !== null && Number(held) !== 0) problems.push(`stock ${p}: live holds ${held} left`);
  }
  return { problems, orders, history };
}

/** A pending 3-D Secure order (202, PaymentIntent requires_action at the double). */
async function pendingOrder(
  record: ScenarioRecord,
  problems: string[],
  sku: string,
  quantity: number,
  via: Container,
): Promise<{ orderId: string; intentId: string } | undefined> {
  const placed = record.tally.add(
    'create',
    await via.placeOrder(orderBody(sku, quantity, 'pm_card_authenticationRequired')),
    problems,
  );
  const intent = placed.statusCode === 202 ? stack.double.intentsFor(placed.body.order.id)[0] : undefined;
  if (intent?.status !== 'requires_action') {
    problems.push(`setup: no pending 3-D Secure order (${placed.statusCode} ${JSON.stringify(placed.body)})`);
    return undefined;
  }
  return { orderId: placed.body.order.id as string, intentId: String(intent.id) };
}

/** The customer finishes 3-D Secure at the double: 200 (succeeded; Stripe sends the event) or 404 (nothing to finish). */
async function finish3ds(intentId: string): Promise<number> {
  const r = await fetch(`${stack.double.url}/_double/payment_intents/${intentId}/authenticate`, {
    method: 'POST',
    body: 'outcome=succeed',
  });
  await r.text();
  return r.status;
}

/** POST /orders/{orderId}/cancel, no body (the operator's usual call). */
function cancel(via: Container, orderId: string): Promise<HttpResult> {
  return via.invoke(
    'cancelOrder',
    apiGatewayEvent({
      method: 'POST',
      path: `/orders/${orderId}/cancel`,
      routeKey: 'POST /orders/{orderId}/cancel',
      pathParameters: { orderId },
      rawBody: '',
    }),
  );
}

let scheduledRuns = 0;
/** One run of the scheduled expireOrders in `via`, as EventBridge invokes it; answers the run's summary. */
function runScheduler(via: Container): Promise<ExpireSummary> {
  const id = `expire-${scheduledRuns++}`;
  const event: ScheduledEvent = {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/expire-orders'],
    detail: {},
  };
  // Container.invoke reads an HTTP answer; the scheduled function answers its summary, read here.
  return new Promise((resolve, reject) => {
    const onMessage = (m: { id?: unknown; result?: ExpireSummary; error?: string }) => {
      if (m.id !== id) return;
      via.child.off('message', onMessage);
      if (m.error || !m.result) reject(new Error(m.error ?? 'no summary'));
      else resolve(m.result);
    };
    via.child.on('message', onMessage);
    via.child.send({ id, name: 'expireOrders', event });
  });
}

/** Waits until every one of `orderIds` is older than PENDING_ORDER_TIMEOUT_SECONDS (the database's clock). */
async function pastTimeout(orderIds: string[]): Promise<void> {
  for (;;) {
    const { rows } = await stack.db.query<{ due: boolean }>(
      `SELECT bool_and(created_at < now() - make_interval(secs => $2)) AS due FROM orders WHERE id = ANY($1::uuid[])`,
      [orderIds, PENDING_TIMEOUT_SECONDS],
    );
    if (rows[0]?.due) return;
    await sleep(50);
  }
}

const sourcesOf = (history: HistoryRow[], orderId: string, type: string) =>
  history.filter((h) => h.order_id === orderId && h.type === type).map((h) => h.source);

test('control: the double delivers its events to the containers, and cancel, the scheduler and a failed refund are applied', async () => {
  const record = new ScenarioRecord('control');
  const problems: string[] = [];
  deliveries.attach(record, problems, 0);
  const sku = await givenProduct(stack.db, 10, PRICE_CENTS);
  const paid = await pendingOrder(record, problems, sku, 2, container(0));
  const canceled = await pendingOrder(record, problems, sku, 1, container(0));
  const abandoned = await pendingOrder(record, problems, sku, 3, container(1));
  if (!paid || !canceled || !abandoned) throw new Error(problems.join('; '));

  expect(await finish3ds(paid.intentId)).toBe(200);
  await deliveries.settle(); // paid by its webhook before the scheduler looks
  const cancelAnswer = await cancel(container(1), canceled.orderId);
  expect([cancelAnswer.statusCode, cancelAnswer.body.order.status]).toEqual([200, 'canceled']);
  await pastTimeout([abandoned.orderId]);
  expect(await runScheduler(container(0))).toEqual({
    settledPaid: 0,
    canceled: expect.any(Number),
    waiting: 0,
    refundsResent: 0,
    errors: 0,
  });
  await deliveries.settle();
  expect(stack.double.acknowledged(paid.intentId)).toEqual(['payment_intent.succeeded']);
  expect(stack.double.acknowledged(canceled.intentId)).toEqual(['payment_intent.canceled']);
  expect(stack.double.acknowledged(abandoned.intentId)).toEqual(['payment_intent.canceled']);
  const { rows } = await stack.db.query('SELECT id, status, cancel_reason FROM orders WHERE id = ANY($1::uuid[])', [
    [paid.orderId, canceled.orderId, abandoned.orderId],
  ]);
  expect(new Map(rows.map((r) => [r.id, [r.status, r.cancel_reason]]))).toEqual(
    new Map([
      [paid.orderId, ['paid', null]],
      [canceled.orderId, ['canceled', 'requested_by_customer']],
      [abandoned.orderId, ['canceled', 'abandoned']],
    ]),
  );

  // A refund, then Stripe failing it later: its events reach the service, the money is owed again.
  const refund = await container(0).refund(paid.orderId, { items: [{ productId: sku, quantity: 1 }] });
  expect([refund.statusCode, refund.body.order.status]).toEqual([201, 'paid']);
  await deliveries.settle();
  const stripeRefundId = String(refund.body.refund.stripeRefundId);
  expect(stack.double.acknowledged(stripeRefundId)).toEqual(['refund.created']);
  const failed = await fetch(`${stack.double.url}/_double/refunds/${stripeRefundId}/status`, {
    method: 'POST',
    body: JSON.stringify({ status: 'failed', failure_reason: 'expired_or_canceled_card' }),
  });
  expect(failed.status).toBe(200);
  await deliveries.settle();
  const { rows: after } = await stack.db.query('SELECT status, failure_reason FROM refunds WHERE order_id = $1', [
    paid.orderId,
  ]);
  expect(after).toEqual([{ status: 'failed', failure_reason: 'expired_or_canceled_card' }]);
  const books = await checkBooks({ [sku]: 10 }, new Set([stripeRefundId]));
  // 2 units sold and 1 of them given back (it stays given back though its money is owed again).
  expect(await stack.db.query('SELECT quantity FROM inventory WHERE product_id = $1', [sku])).toMatchObject({
    rows: [{ quantity: 9 }],
  });
  expect([...problems, ...books.problems]).toEqual([]);
});

test(`A. cancel racing the customer finishing 3-D Secure (payment_intent.succeeded in another container) (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord('A. cancel (container 1) + 3-D Secure finished, its succeeded webhook elsewhere');
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    deliveries.attach(record, problems, 10);
    const sku = await givenProduct(stack.db, 5, PRICE_CENTS);
    const initial = { [sku]: 5 };
    const order = await pendingOrder(record, problems, sku, 2, container(0));
    if (order) {
      // Which goes first, and by how much, varies: -30..30 ms (< 0: the cancel first).
      const offset = Math.round((Math.random() * 2 - 1) * 30);
      const sampler = startSampler(initial);
      const [canceled, authenticated] = await Promise.all([
        after(Math.max(0, offset), () => cancel(container(1), order.orderId)),
        after(Math.max(0, -offset), () => finish3ds(order.intentId)),
      ]);
      await deliveries.settle();
      record.samples += await sampler.stop(problems);
      record.tally.add('cancel', canceled, problems);
      record.tally.count(`3-D Secure ${authenticated}`);

      const intent = stack.double.intentsFor(order.orderId)[0] as Json;
      const { problems: books, orders, history } = await checkBooks(initial);
      problems.push(...books);
      const status = orders[0]?.status;
      const expectedIntent = authenticated === 200 ? 'succeeded' : authenticated === 404 ? 'canceled' : 'an answer';
      if (intent.status !== expectedIntent)
        problems.push(`3-D Secure answered ${authenticated}, the PaymentIntent is ${String(intent.status)}`);
      const cancelCode = canceled.body?.error?.code;
      if (status === 'canceled') {
        if (!(canceled.statusCode === 200 && canceled.body.order.status === 'canceled') && canceled.statusCode !== 202)
          problems.push(`order canceled, but the cancel answered ${answerOf('cancel', canceled)}`);
        record.outcomes.count(
          intent.status === 'canceled'
            ? 'canceled before the payment'
            : `paid (by ${sourcesOf(history, order.orderId, 'paid').join('+') || 'nobody'}), then canceled with its refund`,
        );
      } else if (status === 'paid') {
        if (!(canceled.statusCode === 409 && cancelCode === 'order_not_cancelable'))
          problems.push(`order paid, but the cancel answered ${answerOf('cancel', canceled)}`);
        record.outcomes.count('paid, cancel refused');
      } else problems.push(`order ended ${status}`);
    }
    record.end(repetition, problems);
  }
  expectNoProblems(record);
});

test(`B. two expireOrders runs at once over 10 abandoned orders (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord(
    'B. two scheduler runs at once (containers 0 and 1), 10 abandoned 3-D Secure orders',
  );
  const ABANDONED = 10;
  let bothWorked = 0;
  let stripeCalls = 0;
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    deliveries.attach(record, problems, 10);
    const stock = ABANDONED * 2;
    const sku = await givenProduct(stack.db, stock, PRICE_CENTS);
    const initial = { [sku]: stock };
    const placed = await Promise.all(
      Array.from({ length: ABANDONED }, (_, i) => pendingOrder(record, problems, sku, 1 + (i % 2), container(i))),
    );
    const orders = placed.filter((o) => o !== undefined);
    if (orders.length === ABANDONED) {
      await pastTimeout(orders.map((o) => o.orderId));
      const canceledBefore = stack.double.stats.paymentIntentsCanceled;
      const requestsBefore = stack.double.stats.requests;
      const sampler = startSampler(initial);
      const runs = await Promise.allSettled([runScheduler(container(0)), runScheduler(container(1))]);
      await deliveries.settle();
      record.samples += await sampler.stop(problems);
      stripeCalls += stack.double.stats.requests - requestsBefore;

      const summaries: ExpireSummary[] = [];
      for (const run of runs) {
        if (run.status === 'rejected') problems.push(`a run threw: ${String(run.reason)}`);
        else summaries.push(run.value);
      }
      for (const s of summaries) {
        record.tally.count(`run canceled ${s.canceled}`);
        if (s.errors !== 0 || s.settledPaid !== 0 || s.waiting !== 0 || s.refundsResent !== 0)
          problems.push(`a run's summary: ${JSON.stringify(s)}`);
      }
      if (summaries.every((s) => s.canceled > 0)) bothWorked += 1;
      const canceledAtStripe = stack.double.stats.paymentIntentsCanceled - canceledBefore;
      if (canceledAtStripe !== ABANDONED)
        problems.push(`${canceledAtStripe} PaymentIntents canceled at Stripe for ${ABANDONED} orders`);

      const { problems: books, orders: rows, history } = await checkBooks(initial);
      problems.push(...books);
      const byRuns = summaries.reduce((sum, s) => sum + s.canceled, 0);
      const byWebhook = history.filter((h) => h.type === 'canceled' && h.source === 'webhook').length;
      if (byRuns + byWebhook !== ABANDONED)
        problems.push(`runs canceled ${byRuns} and the webhook ${byWebhook} of ${ABANDONED} orders`);
      record.outcomes.count(`${byRuns} canceled by the runs, ${byWebhook} by payment_intent.canceled`);
      for (const o of rows) {
        const intent = stack.double.intentsFor(o.id)[0] as Json;
        if (o.status !== 'canceled' || o.cancel_reason !== 'abandoned')
          problems.push(`order ${short(o.id)} ended ${o.status} (${o.cancel_reason})`);
        if (intent.status !== 'canceled' || intent.cancellation_reason !== 'abandoned')
          problems.push(
            `order ${short(o.id)}: PaymentIntent ${String(intent.status)} (${String(intent.cancellation_reason)})`,
          );
        // One run per order (the lease): one cancel request at Stripe, never one from each run.
        const cancelCalls = stripeProxy.calls(`POST /v1/payment_intents/${String(intent.id)}/cancel`);
        if (cancelCalls !== 1) problems.push(`order ${short(o.id)}: ${cancelCalls} cancel requests sent to Stripe`);
      }
    }
    record.end(repetition, problems);
  }
  record.notes.push(`both runs canceled orders in ${bothWorked} of ${REPETITIONS} repetitions`);
  record.notes.push(`${(stripeCalls / (REPETITIONS * ABANDONED)).toFixed(2)} Stripe calls per abandoned order`);
  expectNoProblems(record);
});

test(`C. expireOrders racing the customers finishing 3-D Secure for the same orders (${REPETITIONS} repetitions)`, async () => {
  const ORDERS = 6;
  const record = new ScenarioRecord(`C. a scheduler run + ${ORDERS} customers finishing 3-D Secure`);
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    deliveries.attach(record, problems, 10);
    const stock = ORDERS;
    const sku = await givenProduct(stack.db, stock, PRICE_CENTS);
    const initial = { [sku]: stock };
    const placed = await Promise.all(
      Array.from({ length: ORDERS }, (_, i) => pendingOrder(record, problems, sku, 1, container(i))),
    );
    const orders = placed.filter((o) => o !== undefined);
    if (orders.length === ORDERS) {
      await pastTimeout(orders.map((o) => o.orderId));
      const sampler = startSampler(initial);
      // The customers come back at random moments over about as long as the run takes.
      const [run, ...authenticated] = await Promise.allSettled([
        runScheduler(container(repetition % 2)),
        ...orders.map((o) => after(Math.random() * ORDERS * 12, () => finish3ds(o.intentId))),
      ]);
      await deliveries.settle();
      record.samples += await sampler.stop(problems);
      if (run?.status === 'rejected') problems.push(`the run threw: ${String(run.reason)}`);
      else if (run?.status === 'fulfilled' && run.value.errors !== 0)
        problems.push(`the run's summary: ${JSON.stringify(run.value)}`);

      const { problems: books, orders: rows, history } = await checkBooks(initial);
      problems.push(...books);
      orders.forEach((o, i) => {
        const answer = authenticated[i];
        const code = answer?.status === 'fulfilled' ? (answer.value as number) : String(answer?.status);
        record.tally.count(`3-D Secure ${code}`);
        const intent = stack.double.intentsFor(o.orderId)[0] as Json;
        const status = rows.find((r) => r.id === o.orderId)?.status;
        const name = `order ${short(o.orderId)}`;
        if (status === 'canceled' && intent.status !== 'canceled')
          problems.push(`${name} canceled, its PaymentIntent ${String(intent.status)} (3-D Secure answered ${code})`);
        if (status === 'paid' && intent.status !== 'succeeded')
          problems.push(`${name} paid, its PaymentIntent ${String(intent.status)} (3-D Secure answered ${code})`);
        if (status !== 'paid' && status !== 'canceled') problems.push(`${name} ended ${status}`);
        const cancelCalls = stripeProxy.calls(`POST /v1/payment_intents/${String(intent.id)}/cancel`);
        if (cancelCalls > 1) problems.push(`${name}: ${cancelCalls} cancel requests sent to Stripe`);
        if ((code === 200) !== (intent.status === 'succeeded') || (code === 404) !== (intent.status === 'canceled'))
          problems.push(`${name}: 3-D Secure answered ${code}, its PaymentIntent is ${String(intent.status)}`);
        const by = sourcesOf(history, o.orderId, status === 'paid' ? 'paid' : 'canceled').join('+');
        record.outcomes.count(`${status} by ${by}`);
      });
    }
    record.end(repetition, problems);
  }
  expectNoProblems(record);
});

test(`D. a refund racing its own webhooks and a cancel of the same paid order, then Stripe failing a refund (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord(
    'D. refund (container 0) + cancel (container 1) + refund.created/charge.refunded elsewhere; then a refund failed',
  );
  const recordedBy = new Tally();
  // Stripe's answer to a refund is held 0-30 ms (it has made the refund and sent its events): the
  // refund.created / charge.refunded deliveries race the route that is still completing that refund.
  stripeProxy.holdAnswers((method, path) => (method === 'POST' && path === '/v1/refunds' ? Math.random() * 30 : 0));
  try {
    for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
      const problems: string[] = [];
      deliveries.attach(record, problems, 20);
      const sku = await givenProduct(stack.db, 5, PRICE_CENTS);
      const initial = { [sku]: 5 };
      const placed = record.tally.add('create', await container(0).placeOrder(orderBody(sku, 3)), problems);
      if (placed.statusCode === 201) {
        const orderId = placed.body.order.id as string;
        await deliveries.settle(); // its payment_intent.succeeded
        const full = repetition % 2 === 0;
        const offset = Math.round((Math.random() * 2 - 1) * 25);
        const sampler = startSampler(initial);
        const [refund, canceled] = await Promise.all([
          after(Math.max(0, offset), () =>
            container(0).refund(orderId, full ? undefined : { items: [{ productId: sku, quantity: 1 }] }),
          ),
          after(Math.max(0, -offset), () => cancel(container(1), orderId)),
        ]);
        await deliveries.settle();
        record.samples += await sampler.stop(problems);
        record.tally.add(full ? 'refund(full)' : 'refund(1 of 3)', refund, problems);
        record.tally.add('cancel', canceled, problems);

        const refundOk =
          (refund.statusCode === 201 && refund.body.refund.amountCents === (full ? 3 : 1) * PRICE_CENTS) ||
          (refund.statusCode === 409 && refund.body.error.code === 'order_not_refundable') ||
          (refund.statusCode === 422 && refund.body.error.code === 'refund_quantity_exceeded');
        if (!refundOk && refund.statusCode < 500) problems.push(`refund answered ${answerOf('refund', refund)}`);
        const { problems: books, orders, history } = await checkBooks(initial);
        problems.push(...books);
        const status = orders[0]?.status;
        if (canceled.statusCode === 200 || canceled.statusCode === 202) {
          if (status !== 'canceled') problems.push(`cancel answered ${canceled.statusCode}, the order ended ${status}`);
        } else if (canceled.statusCode === 409 && canceled.body.error.code === 'order_not_cancelable') {
          if (!(full && refund.statusCode === 201 && status === 'refunded'))
            problems.push(`cancel refused (${answerOf('refund', refund)}), the order ended ${status}`);
        } else if (canceled.statusCode < 500) problems.push(`cancel answered ${answerOf('cancel', canceled)}`);
        record.outcomes.count(`${answerOf('refund', refund)} + ${answerOf('cancel', canceled)} -> ${status}`);
        for (const h of history.filter((e) => e.type === 'refund_succeeded')) recordedBy.count(h.source);

        // Stripe fails one of the refunds later (a closed card): refund.updated, charge.refund.updated
        // and refund.failed at once in three containers. The money is owed again, the stock stays back.
        const stripeRefunds = stack.double
          .intentsFor(orderId)
          .flatMap((pi) => stack.double.refundsFor(String(pi.id)))
          .filter((r) => r.status === 'succeeded');
        const failing = stripeRefunds[Math.floor(Math.random() * stripeRefunds.length)];
        if (books.length === 0 && failing) {
          const failSampler = startSampler(initial);
          const failed = await fetch(`${stack.double.url}/_double/refunds/${String(failing.id)}/status`, {
            method: 'POST',
            body: JSON.stringify({ status: 'failed', failure_reason: 'expired_or_canceled_card' }),
          });
          await failed.text();
          await deliveries.settle();
          record.samples += await failSampler.stop(problems);
          const later = await checkBooks(initial, new Set([String(failing.id)]));
          problems.push(...later.problems.map((p) => `after the refund failed: ${p}`));
          const now = later.orders[0]?.status;
          if (now !== 'paid') problems.push(`a refund failed after the order ended ${status}: it is ${now}, not paid`);
          record.outcomes.count(`${status} -> refund failed -> ${now}`);
        }
      } else problems.push(`setup: the order was not paid (${answerOf('create', placed)})`);
      record.end(repetition, problems);
    }
  } finally {
    stripeProxy.holdAnswers(undefined);
  }
  record.notes.push(`refund_succeeded recorded by (webhook: the event won; operator: the route did): ${recordedBy}`);
  expectNoProblems(record);
});
