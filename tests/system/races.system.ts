import { Client } from 'pg';
import { keys } from '../../lib/keys';
import {
  answerOf,
  type Container,
  givenProduct,
  type HttpResult,
  orderBody,
  type SystemStack,
  startSystemStack,
  Tally,
} from './system-stack';

/**
 * The race matrix (issue 8, "Races across processes"): Lambda containers as processes against
 * committed data, the Stripe double as Stripe. Every race runs REPETITIONS times, each with a sampler
 * watching Redis and PostgreSQL throughout (live holds never above the stock mirror, stock never below
 * 0 nor above what it started at), and each repetition ends with the books checked:
 *
 * - stock (PostgreSQL, and the Redis mirror when loaded) = initial - what paid/refunded orders keep
 *   (bought - quantities of their succeeded refunds); no live hold and no reservation left;
 * - money: for every order, what the Stripe double captured minus what it refunded = what the order
 *   says it kept (amount_cents - its succeeded refunds for a paid/refunded order; 0 for a failed one);
 * - no 5xx anywhere: every HTTP status is collected and printed.
 *
 * A repetition that breaks something is recorded and the next one runs, so the summary says how many
 * of the REPETITIONS broke and how; the test then fails with every problem found.
 */
const CONTAINERS = 6;
const REPETITIONS = 20;
const PRICE_CENTS = 1000;

type Json = Record<string, unknown>;

let stack: SystemStack;
let c: Container[];
/** The sampler's own connection, so it never queues behind (or ahead of) the test's own queries. */
let samplerDb: Client;
/** Scenario 5 holds the double's answer to a PaymentIntent creation here (see StripeDoubleOptions.beforeAnswer). */
let beforeAnswer: ((intent: Json) => Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startSystemStack({
    double: { beforeAnswer: (intent) => beforeAnswer?.(intent) ?? Promise.resolve() },
    // Stripe's own timeout (the service's default), not the fault suite's 1 s: these races are between
    // processes, and a create-order held at the double while another container applies the webhook
    // must not turn into an SDK retry.
    env: { STRIPE_TIMEOUT_MS: '10000' },
  });
  c = await Promise.all(Array.from({ length: CONTAINERS }, () => stack.container()));
  samplerDb = new Client({ connectionString: stack.databaseUrl });
  samplerDb.on('error', () => undefined);
  await samplerDb.connect();
}, 120_000);

afterAll(async () => {
  beforeAnswer = undefined;
  await samplerDb?.end().catch(() => undefined);
  await stack?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const short = (id: string) => id.slice(0, 8);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const container = (i: number) => c[i % CONTAINERS] as Container;

/** Runs while a race runs: live holds never above the mirror, stock never below 0 nor above its start. */
function startSampler(initial: Record<string, number>) {
  const products = Object.keys(initial);
  const violations = new Set<string>();
  let samples = 0;
  let running = true;
  const redisKeys = products.flatMap((p) => [keys.held(p), keys.stock(p)]);
  const loop = (async () => {
    while (running) {
      // held and stock of every product in one atomic Lua call, as the reserve script sees them.
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
        const start = initial[p] as number;
        if (held > start) violations.add(`${p}: live holds ${held} > initial stock ${start}`);
      });
      for (const r of rows) {
        if (r.quantity < 0) violations.add(`${r.product_id}: inventory ${r.quantity} < 0`);
        if (r.quantity > (initial[r.product_id] as number))
          violations.add(
            `${r.product_id}: inventory ${r.quantity} > initial ${initial[r.product_id]} (stock given back more than taken)`,
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
  failure_code: string | null;
  payment_intent_id: string | null;
}

/**
 * The books after a repetition, over every order that has a line of these products: stock (PostgreSQL
 * and mirror) = initial - what paid/refunded orders keep; for each order the double's captured minus
 * refunded = what the order keeps; nothing left pending, held or reserved. Returns the problems.
 */
async function checkBooks(initial: Record<string, number>): Promise<{ problems: string[]; orders: OrderRow[] }> {
  const problems: string[] = [];
  const products = Object.keys(initial);
  const { rows: orders } = await stack.db.query<OrderRow>(
    `SELECT o.id, o.status, o.amount_cents, o.failure_code, o.payment_intent_id FROM orders o
      WHERE o.id IN (SELECT order_id FROM order_items WHERE product_id = ANY($1::text[])) ORDER BY o.id`,
    [products],
  );
  const ids = orders.map((o) => o.id);
  const { rows: items } = await stack.db.query<{
    order_id: string;
    product_id: string;
    quantity: number;
    refunded_quantity: number;
  }>('SELECT order_id, product_id, quantity, refunded_quantity FROM order_items WHERE order_id = ANY($1::uuid[])', [
    ids,
  ]);
  const { rows: refunds } = await stack.db.query<{
    id: string;
    order_id: string;
    amount_cents: number;
    status: string;
  }>('SELECT id, order_id, amount_cents, status FROM refunds WHERE order_id = ANY($1::uuid[])', [ids]);
  const { rows: refundItems } = await stack.db.query<{ refund_id: string; product_id: string; quantity: number }>(
    'SELECT ri.refund_id, ri.product_id, ri.quantity FROM refund_items ri JOIN refunds r ON r.id = ri.refund_id WHERE r.order_id = ANY($1::uuid[])',
    [ids],
  );

  const expected: Record<string, number> = { ...initial };
  for (const o of orders) {
    const keeps = o.status === 'paid' || o.status === 'refunded';
    if (!['paid', 'refunded', 'failed'].includes(o.status)) problems.push(`order ${short(o.id)} left ${o.status}`);
    const own = refunds.filter((r) => r.order_id === o.id);
    const succeeded = own.filter((r) => r.status === 'succeeded');
    const unsettled = own.filter((r) => r.status !== 'succeeded');
    if (unsettled.length > 0)
      problems.push(`order ${short(o.id)}: refunds left ${unsettled.map((r) => r.status).join(', ')}`);
    const succeededIds = new Set(succeeded.map((r) => r.id));

    let keptUnits = 0;
    for (const line of items.filter((i) => i.order_id === o.id)) {
      const refundedUnits = refundItems
        .filter((ri) => succeededIds.has(ri.refund_id) && ri.product_id === line.product_id)
        .reduce((sum, ri) => sum + ri.quantity, 0);
      if (!keeps) continue;
      const kept = line.quantity - refundedUnits;
      keptUnits += kept;
      if (line.product_id in expected) expected[line.product_id] = (expected[line.product_id] as number) - kept;
      if (line.refunded_quantity !== refundedUnits) {
        problems.push(
          `order ${short(o.id)} ${line.product_id}: refunded_quantity ${line.refunded_quantity}, succeeded refunds gave back ${refundedUnits}`,
        );
      }
    }
    if (o.status === 'refunded' && keptUnits !== 0)
      problems.push(`order ${short(o.id)} is refunded but keeps ${keptUnits} units`);
    if (o.status === 'paid' && keptUnits === 0) problems.push(`order ${short(o.id)} is paid but keeps no units`);

    // Money: the double's captured minus refunded, against what the order says it kept.
    const intents = stack.double.intentsFor(o.id);
    const captured = intents.filter((pi) => pi.status === 'succeeded').reduce((sum, pi) => sum + Number(pi.amount), 0);
    const returned = intents
      .flatMap((pi) => stack.double.refundsFor(String(pi.id)))
      .filter((r) => r.status === 'succeeded')
      .reduce((sum, r) => sum + Number(r.amount), 0);
    const orderKeeps = keeps ? o.amount_cents - succeeded.reduce((sum, r) => sum + r.amount_cents, 0) : 0;
    if (captured - returned !== orderKeeps) {
      problems.push(
        `money: order ${short(o.id)} is ${o.status} and says it kept ${orderKeeps}, Stripe kept ${captured - returned} (captured ${captured}, refunded ${returned})`,
      );
    }
    if (await stack.redis.exists(keys.reservation(o.id)))
      problems.push(`order ${short(o.id)} (${o.status}) still has a reservation`);
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
        `stock ${p}: PostgreSQL ${got}, expected ${want} (initial ${initial[p]} - kept ${(initial[p] as number) - want})`,
      );
    const mirror = await stack.redis.get(keys.stock(p));
    if (mirror !== null && Number(mirror) !== want)
      problems.push(`stock ${p}: Redis mirror ${mirror}, expected ${want}`);
    const held = await stack.redis.get(keys.held(p));
    if (held !== null && Number(held) !== 0) problems.push(`stock ${p}: live holds ${held} left`);
  }
  return { problems, orders };
}

/** One scenario's record: problems per repetition, statuses, samples; printed at the end. */
class ScenarioRecord {
  readonly tally = new Tally();
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
        `${this.name}`,
        `  ${REPETITIONS - failed.length}/${REPETITIONS} repetitions clean${failed.length ? `; broken: #${failed.join(', #')}` : ''}; ${this.samples} samples`,
        `  statuses: ${this.tally}`,
        ...this.notes.map((n) => `  ${n}`),
        ...this.failures.slice(0, 12).map((f) => `  ${f}`),
        ...(this.failures.length > 12 ? [`  ... ${this.failures.length - 12} more`] : []),
      ].join('\n')}\n`,
    );
  }
}

/** A paid order of `quantity` units of a new product with `stock` units, placed through a container. */
async function paidOrder(record: ScenarioRecord, problems: string[], stock: number, quantity: number, via: Container) {
  const sku = await givenProduct(stack.db, stock, PRICE_CENTS);
  const placed = record.tally.add('create', await via.placeOrder(orderBody(sku, quantity)), problems);
  if (placed.statusCode !== 201) {
    problems.push(`setup: the order was not paid (${placed.statusCode} ${JSON.stringify(placed.body)})`);
    return undefined;
  }
  const orderId = placed.body.order.id as string;
  const intent = stack.double.intentsFor(orderId)[0] as Json;
  const { rows } = await stack.db.query<{ last_event_created: string }>(
    'SELECT last_event_created FROM orders WHERE id = $1',
    [orderId],
  );
  return { sku, orderId, intent, paidAt: Number(rows[0]?.last_event_created), initial: { [sku]: stock } };
}

const failedIntent = (intent: Json): Json => ({
  ...structuredClone(intent),
  status: 'requires_payment_method',
  amount_received: 0,
  last_payment_error: {
    type: 'card_error',
    code: 'card_declined',
    decline_code: 'generic_decline',
    message: 'Your card was declined.',
  },
});

function expectNoProblems(record: ScenarioRecord): void {
  record.print();
  expect(record.failures).toEqual([]);
}

test('control: the signed events and refund calls this suite sends are accepted and applied', async () => {
  const sku = await givenProduct(stack.db, 5, PRICE_CENTS);
  const a = await container(0).placeOrder(orderBody(sku, 2, 'pm_card_authenticationRequired'));
  const b = await container(0).placeOrder(orderBody(sku, 1, 'pm_card_authenticationRequired'));
  expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
  const intentA = stack.double.intentsFor(a.body.order.id)[0] as Json;
  const intentB = stack.double.intentsFor(b.body.order.id)[0] as Json;
  const authenticated = await fetch(`${stack.double.url}/_double/payment_intents/${String(intentA.id)}/authenticate`, {
    method: 'POST',
    body: 'outcome=succeed',
  });
  expect(authenticated.status).toBe(200);
  const succeeded = (await authenticated.json()) as Json;

  const paid = await container(1).webhook('payment_intent.succeeded', succeeded, nowSeconds(), 'evt_control_a');
  const again = await container(2).webhook('payment_intent.succeeded', succeeded, nowSeconds(), 'evt_control_a');
  const failed = await container(1).webhook('payment_intent.payment_failed', failedIntent(intentB), nowSeconds());

  expect([paid.statusCode, paid.body]).toEqual([200, { received: true }]);
  expect([again.statusCode, again.body]).toEqual([200, { received: true, duplicate: true }]);
  expect([failed.statusCode, failed.body]).toEqual([200, { received: true }]);
  const { rows } = await stack.db.query('SELECT id, status FROM orders WHERE id = ANY($1::uuid[]) ORDER BY status', [
    [a.body.order.id, b.body.order.id],
  ]);
  expect(rows).toEqual([
    { id: b.body.order.id, status: 'failed' },
    { id: a.body.order.id, status: 'paid' },
  ]);

  const partial = await container(3).refund(a.body.order.id, { items: [{ productId: sku, quantity: 1 }] });
  const rest = await container(4).refund(a.body.order.id);
  expect([partial.statusCode, partial.body.refund.amountCents, partial.body.order.status]).toEqual([
    201,
    PRICE_CENTS,
    'paid',
  ]);
  expect([rest.statusCode, rest.body.refund.amountCents, rest.body.order.status]).toEqual([
    201,
    PRICE_CENTS,
    'refunded',
  ]);
  expect(stack.double.refundsFor(String(intentA.id)).map((r) => r.amount)).toEqual([PRICE_CENTS, PRICE_CENTS]);
  const listed = (await (
    await fetch(`${stack.double.url}/v1/refunds?payment_intent=${String(intentA.id)}&limit=100`, {
      headers: { Authorization: 'Bearer sk_test_x' },
    })
  ).json()) as { object: string; data: Json[]; has_more: boolean };
  expect([listed.object, listed.has_more, listed.data.map((r) => r.id)]).toEqual([
    'list',
    false,
    stack.double
      .refundsFor(String(intentA.id))
      .map((r) => r.id)
      .reverse(),
  ]);
  expect((await checkBooks({ [sku]: 5 })).problems).toEqual([]);
});

test(`1. multi-line orders over overlapping products in opposite orders, ${CONTAINERS} containers, limited stock (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord('1. opposite multi-line orders');
  const ORDERS = 36;
  let paidTotal = 0;
  let refusedTotal = 0;
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    // About half the units asked for: many orders get as far as paying (where PostgreSQL locks the
    // stock rows), and many are refused.
    const p1 = await givenProduct(stack.db, 12, PRICE_CENTS);
    const p2 = await givenProduct(stack.db, 24, PRICE_CENTS);
    const p3 = await givenProduct(stack.db, 18, PRICE_CENTS);
    const initial = { [p1]: 12, [p2]: 24, [p3]: 18 };
    // The same pairs of products, listed in opposite orders: [p1, p2] against [p2, p1], and so on.
    const shapes = [
      [
        [p1, 1],
        [p2, 2],
      ],
      [
        [p2, 2],
        [p1, 1],
      ],
      [
        [p2, 1],
        [p3, 2],
      ],
      [
        [p3, 2],
        [p2, 1],
      ],
      [
        [p1, 1],
        [p2, 1],
        [p3, 1],
      ],
      [
        [p3, 1],
        [p2, 1],
        [p1, 1],
      ],
    ] as [string, number][][];
    const requests = Array.from({ length: ORDERS }, (_, i) => ({
      customerId: 'cus_races',
      paymentMethodId: 'pm_card_visa',
      items: (shapes[i % shapes.length] as [string, number][]).map(([productId, quantity]) => ({
        productId,
        quantity,
      })),
    }));
    const sampler = startSampler(initial);

    // Every container gets a mix of the shapes, all sent at once.
    const responses = await Promise.all(
      requests.map((body, i) => container(i + Math.floor(i / CONTAINERS)).placeOrder(body)),
    );
    record.samples += await sampler.stop(problems);

    const sold: Record<string, number> = { [p1]: 0, [p2]: 0, [p3]: 0 };
    for (const [i, r] of responses.entries()) {
      record.tally.add('create', r, problems);
      const asked = (requests[i] as (typeof requests)[number]).items;
      if (r.statusCode === 201) {
        paidTotal += 1;
        const got = (r.body.order.items as { productId: string; quantity: number }[])
          .map((l) => [l.productId, l.quantity])
          .sort();
        if (JSON.stringify(got) !== JSON.stringify(asked.map((l) => [l.productId, l.quantity]).sort()))
          problems.push(`order ${short(r.body.order.id)}: paid lines ${JSON.stringify(got)} are not the lines asked`);
        if (r.body.order.status !== 'paid')
          problems.push(`201 for order ${short(r.body.order.id)} with status ${r.body.order.status}`);
        for (const l of asked) sold[l.productId] = (sold[l.productId] as number) + l.quantity;
      } else if (r.statusCode === 409 && r.body.error.code === 'insufficient_inventory') {
        refusedTotal += 1;
      } else if (r.statusCode < 500) {
        problems.push(`create answered ${answerOf('create', r)}: ${JSON.stringify(r.body)}`);
      }
    }

    const { problems: books, orders } = await checkBooks(initial);
    problems.push(...books);
    // All or nothing, order by order: a paid one took every line and was charged once; a refused one took none and was never charged.
    const paidIds = new Set(responses.filter((r) => r.statusCode === 201).map((r) => r.body.order.id as string));
    const refusedIds = new Set(
      responses.filter((r) => r.statusCode === 409).map((r) => r.body.error.orderId as string),
    );
    if (orders.length !== ORDERS) problems.push(`${orders.length} orders recorded, ${ORDERS} asked`);
    for (const o of orders) {
      const intents = stack.double.intentsFor(o.id);
      if (paidIds.has(o.id) && (o.status !== 'paid' || intents.length !== 1 || intents[0]?.amount !== o.amount_cents)) {
        problems.push(`order ${short(o.id)} answered 201: status ${o.status}, ${intents.length} PaymentIntents`);
      }
      if (
        refusedIds.has(o.id) &&
        (o.status !== 'failed' || o.failure_code !== 'insufficient_inventory' || intents.length !== 0)
      ) {
        problems.push(
          `order ${short(o.id)} answered 409: status ${o.status} (${o.failure_code}), ${intents.length} PaymentIntents`,
        );
      }
    }
    // The answers and the stock tell the same story.
    const { rows } = await stack.db.query<{ product_id: string; quantity: number }>(
      'SELECT product_id, quantity FROM inventory WHERE product_id = ANY($1::text[])',
      [[p1, p2, p3]],
    );
    for (const r of rows) {
      if ((initial[r.product_id] as number) - r.quantity !== sold[r.product_id])
        problems.push(
          `stock ${r.product_id}: 201 answers sold ${sold[r.product_id]}, stock went down by ${(initial[r.product_id] as number) - r.quantity}`,
        );
    }
    record.end(repetition, problems);
  }
  record.notes.push(`${REPETITIONS * ORDERS} orders: ${paidTotal} paid, ${refusedTotal} refused for stock`);
  expectNoProblems(record);
});

/**
 * Two refunds of one paid order (3 units) from two containers at once. `allowed` judges the two
 * answers (in the order sent) and returns what is wrong with them, if anything.
 */
async function refundRace(
  name: string,
  bodies: (sku: string) => [unknown, unknown],
  allowed: (answers: [HttpResult, HttpResult], sku: string) => string | undefined,
  finalStatus: string,
): Promise<void> {
  const record = new ScenarioRecord(name);
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    const order = await paidOrder(record, problems, 5, 3, container(2));
    if (order) {
      const sampler = startSampler(order.initial);
      // Alternate which container sends which body.
      const [first, second] = bodies(order.sku);
      const swap = repetition % 2 === 0;
      const sent = await Promise.all([
        container(swap ? 1 : 0).refund(order.orderId, first),
        container(swap ? 0 : 1).refund(order.orderId, second),
      ]);
      record.samples += await sampler.stop(problems);
      const answers = sent.map((r) => record.tally.add('refund', r, problems)) as [HttpResult, HttpResult];
      if (answers.every((r) => r.statusCode < 500)) {
        const wrong = allowed(answers, order.sku);
        if (wrong) problems.push(`${wrong}: ${answers.map((r) => answerOf('refund', r)).join(' / ')}`);
      }
      const { problems: books, orders } = await checkBooks(order.initial);
      problems.push(...books);
      if (orders[0]?.status !== finalStatus)
        problems.push(`order ${short(order.orderId)} ended ${orders[0]?.status}, expected ${finalStatus}`);
    }
    record.end(repetition, problems);
  }
  expectNoProblems(record);
}

const refused = (r: HttpResult) =>
  (r.statusCode === 409 && r.body.error.code === 'order_not_refundable') ||
  (r.statusCode === 422 && r.body.error.code === 'refund_quantity_exceeded');
const refunded = (r: HttpResult, units: number) =>
  r.statusCode === 201 && r.body.refund.amountCents === units * PRICE_CENTS;

test(`2a. two refunds of one paid order at once, partial + partial for the last units (2 + 2 of 3) (${REPETITIONS} repetitions)`, async () => {
  await refundRace(
    '2a. refund 2 of 3 + refund 2 of 3',
    (sku) => [{ items: [{ productId: sku, quantity: 2 }] }, { items: [{ productId: sku, quantity: 2 }] }],
    ([x, y]) => {
      const ok =
        [x, y].filter((r) => refunded(r, 2)).length === 1 &&
        [x, y].filter((r) => r.statusCode === 422 && r.body.error.code === 'refund_quantity_exceeded').length === 1;
      return ok ? undefined : 'expected one 201 (2 units) and one 422 refund_quantity_exceeded';
    },
    'paid',
  );
});

test(`2b. two refunds of one paid order at once, full (no items) + items for every unit (${REPETITIONS} repetitions)`, async () => {
  await refundRace(
    '2b. full refund + refund 3 of 3',
    (sku) => [undefined, { items: [{ productId: sku, quantity: 3 }] }],
    ([full, items]) => {
      const ok = (refunded(full, 3) && refused(items)) || (refunded(items, 3) && refused(full));
      return ok
        ? undefined
        : 'expected one 201 (3 units) and one 409 order_not_refundable / 422 refund_quantity_exceeded';
    },
    'refunded',
  );
});

test(`2c. two refunds of one paid order at once, full (no items) + partial (2 of 3) (${REPETITIONS} repetitions)`, async () => {
  await refundRace(
    '2c. full refund + refund 2 of 3',
    (sku) => [undefined, { items: [{ productId: sku, quantity: 2 }] }],
    ([full, partial]) => {
      // The full one first: the partial finds nothing (left) to refund. The partial first: the full one refunds the unit left.
      const ok = (refunded(full, 3) && refused(partial)) || (refunded(partial, 2) && refunded(full, 1));
      return ok
        ? undefined
        : 'expected full 201 (3 units) + partial 409/422, or partial 201 (2 units) + full 201 (the 1 unit left)';
    },
    'refunded',
  );
});

test(`3. a refund racing a NEWER payment_intent.payment_failed for a paid order (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord('3. refund + newer payment_failed webhook');
  const finals = new Map<string, number>();
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    const order = await paidOrder(record, problems, 5, 3, container(2));
    if (order) {
      const full = repetition % 2 === 1;
      const sampler = startSampler(order.initial);
      const [refund, webhook] = await Promise.all([
        container(0).refund(order.orderId, full ? undefined : { items: [{ productId: order.sku, quantity: 1 }] }),
        container(1).webhook('payment_intent.payment_failed', failedIntent(order.intent), order.paidAt + 1),
      ]);
      record.samples += await sampler.stop(problems);
      record.tally.add(full ? 'refund(full)' : 'refund(1 of 3)', refund, problems);
      record.tally.add('webhook', webhook, problems);
      if (
        webhook.statusCode < 500 &&
        (webhook.statusCode !== 200 || webhook.body?.received !== true || webhook.body?.duplicate)
      ) {
        problems.push(`the webhook was not taken: ${answerOf('webhook', webhook)}`);
      }
      if (
        refund.statusCode < 500 &&
        !refunded(refund, full ? 3 : 1) &&
        !(refund.statusCode === 409 && refund.body.error.code === 'order_not_refundable')
      ) {
        problems.push(`refund answered ${answerOf('refund', refund)}`);
      }
      const { problems: books, orders } = await checkBooks(order.initial);
      problems.push(...books);
      const final = `${full ? 'full' : 'partial'} refund ${refund.statusCode} -> order ${orders[0]?.status}`;
      finals.set(final, (finals.get(final) ?? 0) + 1);
    }
    record.end(repetition, problems);
  }
  record.notes.push(`outcomes: ${[...finals.entries()].map(([k, n]) => `${k} x${n}`).join(', ')}`);
  expectNoProblems(record);
});

/** 4: a refund racing a payment_intent.succeeded for the (already paid) order. */
async function refundAgainstSucceeded(name: string, sameEventId: boolean): Promise<void> {
  const record = new ScenarioRecord(name);
  for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
    const problems: string[] = [];
    const order = await paidOrder(record, problems, 5, 3, container(2));
    if (order) {
      const full = repetition % 2 === 1;
      const eventId = `evt_races_${short(order.orderId)}_${repetition}`;
      const sampler = startSampler(order.initial);
      const sent = await Promise.all([
        container(0).refund(order.orderId, full ? undefined : { items: [{ productId: order.sku, quantity: 1 }] }),
        // Same id: Stripe's delivery and its redelivery at once. New id: another succeeded event, newer than the payment.
        ...(sameEventId
          ? [
              container(1).webhook('payment_intent.succeeded', order.intent, Number(order.intent.created), eventId),
              container(2).webhook('payment_intent.succeeded', order.intent, Number(order.intent.created), eventId),
            ]
          : [container(1).webhook('payment_intent.succeeded', order.intent, nowSeconds())]),
      ]);
      record.samples += await sampler.stop(problems);
      const [refund, ...firstDeliveries] = sent as [HttpResult, ...HttpResult[]];
      record.tally.add(full ? 'refund(full)' : 'refund(1 of 3)', refund, problems);
      for (const w of firstDeliveries) record.tally.add('webhook', w, problems);
      // A delivery that met the same event id in progress in another container gets 409 (with
      // Retry-After); Stripe delivers it again later, as this does once the race is over.
      const webhooks: HttpResult[] = [];
      for (const w of firstDeliveries) {
        if (w.statusCode === 409 && w.body?.error?.code === 'idempotency_in_progress' && sameEventId) {
          webhooks.push(
            await container(1).webhook('payment_intent.succeeded', order.intent, Number(order.intent.created), eventId),
          );
        } else webhooks.push(w);
      }
      if (refund.statusCode < 500 && !refunded(refund, full ? 3 : 1))
        problems.push(`refund answered ${answerOf('refund', refund)}`);
      const duplicates = webhooks.filter((w) => w.body?.duplicate === true).length;
      if (
        webhooks.some((w) => w.statusCode !== 200 || w.body?.received !== true) ||
        duplicates !== (sameEventId ? 1 : 0)
      ) {
        problems.push(`webhooks answered ${webhooks.map((w) => answerOf('webhook', w)).join(' / ')}`);
      }
      const { problems: books, orders } = await checkBooks(order.initial);
      problems.push(...books);
      const finalStatus = full ? 'refunded' : 'paid';
      if (orders[0]?.status !== finalStatus)
        problems.push(`order ${short(order.orderId)} ended ${orders[0]?.status}, expected ${finalStatus}`);
    }
    record.end(repetition, problems);
  }
  expectNoProblems(record);
}

test(`4a. a refund racing payment_intent.succeeded delivered twice at once with the same event id (${REPETITIONS} repetitions)`, async () => {
  await refundAgainstSucceeded('4a. refund + succeeded (same event id, twice)', true);
});

test(`4b. a refund racing a payment_intent.succeeded with a new event id (${REPETITIONS} repetitions)`, async () => {
  await refundAgainstSucceeded('4b. refund + succeeded (new event id)', false);
});

test(`5. create-order's own confirm racing the succeeded webhook in another container (${REPETITIONS} repetitions)`, async () => {
  const record = new ScenarioRecord("5. create-order's confirm + succeeded webhook");
  const ORDERS = 3;
  let webhookFirst = 0;
  try {
    for (let repetition = 1; repetition <= REPETITIONS; repetition += 1) {
      const problems: string[] = [];
      const sku = await givenProduct(stack.db, 8, PRICE_CENTS);
      const initial = { [sku]: 8 };
      const quantities = [1, 2, 2];
      // Odd repetitions: the answer waits until the webhook was applied (the webhook surely first).
      // Even ones: the webhook is sent and the answer goes a moment later (a real race).
      const waitForWebhook = repetition % 2 === 1;
      const webhooks: Promise<void>[] = [];
      let n = 0;
      // One query at a time on the test's connection, however the three webhooks interleave.
      let reads: Promise<unknown> = Promise.resolve();
      const statusOf = (orderId: string) => {
        const read = reads.then(() =>
          stack.db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [orderId]),
        );
        reads = read.catch(() => undefined);
        return read;
      };
      beforeAnswer = async (intent) => {
        const orderId = (intent.metadata as { order_id?: string } | undefined)?.order_id ?? '';
        const delivery = container(3 + (n++ % 3))
          .webhook('payment_intent.succeeded', intent, Number(intent.created))
          .then(async (w) => {
            record.tally.add('webhook', w, problems);
            if (w.statusCode !== 200 || w.body?.received !== true || w.body?.duplicate)
              problems.push(`the webhook was not taken: ${answerOf('webhook', w)}`);
            if (!waitForWebhook) return;
            // Still waiting for Stripe's answer, the order was paid by the webhook alone.
            const { rows } = await statusOf(orderId);
            if (rows[0]?.status === 'paid') webhookFirst += 1;
            else problems.push(`order ${short(orderId)}: ${rows[0]?.status} after its succeeded webhook`);
          });
        webhooks.push(delivery);
        if (waitForWebhook) await delivery;
        else await sleep(Math.floor(Math.random() * 10));
      };
      const sampler = startSampler(initial);
      const responses = await Promise.all(quantities.map((q, i) => container(i).placeOrder(orderBody(sku, q))));
      await Promise.all(webhooks);
      record.samples += await sampler.stop(problems);
      beforeAnswer = undefined;

      for (const r of responses) {
        record.tally.add('create', r, problems);
        if (r.statusCode < 500 && (r.statusCode !== 201 || r.body.order.status !== 'paid'))
          problems.push(`create answered ${answerOf('create', r)}`);
      }
      if (webhooks.length !== ORDERS) problems.push(`${webhooks.length} webhooks sent for ${ORDERS} orders`);
      const { problems: books, orders } = await checkBooks(initial);
      problems.push(...books);
      for (const o of orders) {
        if (stack.double.intentsFor(o.id).length !== 1)
          problems.push(`order ${short(o.id)}: ${stack.double.intentsFor(o.id).length} PaymentIntents`);
        if (o.status !== 'paid') problems.push(`order ${short(o.id)} ended ${o.status}`);
      }
      record.end(repetition, problems);
    }
  } finally {
    beforeAnswer = undefined;
  }
  record.notes.push(`${webhookFirst} orders paid by the webhook while their create call still waited for Stripe`);
  expectNoProblems(record);
});
