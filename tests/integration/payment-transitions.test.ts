import { randomUUID } from 'node:crypto';
import { reserve } from '../../lib/inventory/reservations';
import { keys } from '../../lib/keys';
import type { Cause } from '../../lib/orders/history';
import { settleFailed, settlePaid } from '../../lib/orders/payment-state';
import { availableOf } from '../helpers/builders';
import { db, redis, testDeps } from '../helpers/harness';
import { postRefund, stripeRefunds } from '../helpers/orders';
import { paymentIntent } from '../helpers/stripe-fixtures';
import {
  mockPaymentIntentsCreate,
  mockPaymentIntentsRetrieve,
  mockPaymentIntentsSearch,
  mockRefundsCreate,
  mockRefundsList,
} from '../helpers/stripe-mock';
import { deliver, paymentEvent } from '../helpers/webhooks';
import {
  AMOUNT,
  BEFORE,
  type BeforeState,
  CREATED,
  ignored,
  ORDERS,
  type Outcome,
  PAYMENT_TRANSITIONS,
  PRICES,
  type ProductKey,
  type Row,
  rowName,
  STOCK,
} from '../spec/payment-transitions';

/**
 * tests/spec/payment-transitions.ts, run against every place that encodes the payment rule, so they
 * cannot drift apart: the order_paid SQL function (called directly, and through settlePaid with an
 * event as the webhook does), the one-statement confirm (settlePaid with the known lines and no
 * event: create-order's path), the failure transition (settleFailed with and without an event, with
 * and without Stripe's word), the webhook route (which asks Stripe) and the refund route.
 *
 * Each case builds the order as the row says (rows in PostgreSQL, its hold and the stock mirror in
 * Redis), applies the event at one place, and checks the orders row, inventory, the refunds, Redis
 * (hold gone, mirror equal to inventory) and the exact Stripe calls.
 */

const PRODUCT: Record<ProductKey, string> = { A: 'sku_spec_a', B: 'sku_spec_b' };
const PRODUCTS = Object.keys(PRODUCT) as ProductKey[];
const OUT_OF_STOCK = 'out_of_stock_after_payment';

interface Given {
  orderId: string;
  paymentIntentId: string;
  amountCents: number;
  lines: { productId: string; quantity: number }[];
  /** The lines not yet refunded, as order_paid lists them (product order). */
  unrefunded: { productId: string; quantity: number }[];
  inventory: Record<ProductKey, number>;
  hold: Record<string, string>;
  priorRefundIds: string[];
}

/** The order in the row's state: products, order, lines and earlier refunds in one statement; its hold and the mirror in Redis. */
async function given(row: Row): Promise<Given> {
  const b: BeforeState = BEFORE[row.before];
  const inventory = { ...STOCK[row.stock][row.order] };
  const orderId = randomUUID();
  const paymentIntentId = `pi_spec_${orderId.slice(0, 8)}`;
  const amountCents = AMOUNT[row.order];
  const ordered = Object.entries(ORDERS[row.order]) as [ProductKey, number][];
  const refundedOf = (p: ProductKey, q: number) => (b.refunded === 'all' ? q : (b.refunded[p] ?? 0));
  const refunds = b.refunds.map((prior) => {
    const units = (prior.units === 'all' ? ordered : (Object.entries(prior.units) as [ProductKey, number][])).filter(
      ([, n]) => n > 0,
    );
    const id = randomUUID();
    return {
      id,
      amount_cents: units.length === 0 ? amountCents : units.reduce((sum, [p, n]) => sum + n * PRICES[p], 0),
      reason: prior.reason,
      stripe_refund_id: `re_prior_${id.slice(0, 8)}`,
      items: units.map(([p, n]) => ({ product_id: PRODUCT[p], quantity: n, amount_cents: n * PRICES[p] })),
    };
  });
  const world = {
    products: PRODUCTS.map((p) => ({ id: PRODUCT[p], price_cents: PRICES[p], quantity: inventory[p] })),
    order: {
      id: orderId,
      idempotency_key: `spec-${orderId}`,
      status: b.status,
      amount_cents: amountCents,
      payment_intent_id: b.hasPaymentIntent ? paymentIntentId : null,
      failure_code: b.failureCode,
      decline_code: b.declineCode,
      failure_product_id: b.failureProduct ? PRODUCT[b.failureProduct] : null,
      last_event_created: b.lastEventCreated,
    },
    items: ordered.map(([p, q]) => ({
      product_id: PRODUCT[p],
      quantity: q,
      unit_price_cents: PRICES[p],
      refunded_quantity: refundedOf(p, q),
    })),
    refunds,
    refund_items: refunds.flatMap((r) => r.items.map((i) => ({ refund_id: r.id, ...i }))),
  };
  await db().query(
    `WITH w AS (SELECT $1::json AS j),
     products AS (
       INSERT INTO products (id, name, price_cents, currency)
       SELECT p.id, p.id, p.price_cents, 'usd' FROM w, json_to_recordset(w.j->'products') AS p(id text, price_cents int, quantity int)
     ), inventory AS (
       INSERT INTO inventory (product_id, quantity)
       SELECT p.id, p.quantity FROM w, json_to_recordset(w.j->'products') AS p(id text, price_cents int, quantity int)
     ), orders AS (
       INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency,
                           payment_intent_id, failure_code, decline_code, failure_product_id, last_event_created)
       SELECT o.id, o.idempotency_key, 'h', 'cus_1', 'pm_card_visa', o.status, o.amount_cents, 'usd',
              o.payment_intent_id, o.failure_code, o.decline_code, o.failure_product_id, o.last_event_created
         FROM w, json_to_record(w.j->'order') AS o(id uuid, idempotency_key text, status text, amount_cents int, payment_intent_id text,
                                                   failure_code text, decline_code text, failure_product_id text, last_event_created bigint)
       RETURNING id
     ), items AS (
       -- From the inserted order (not the JSON): the lines are inserted after it, as create-order does.
       -- The refunded units' stock went back with their refunds (succeeded): restocked as refunded.
       INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents, refunded_quantity, restocked_quantity)
       SELECT ord.id, i.product_id, i.quantity, i.unit_price_cents, i.refunded_quantity, i.refunded_quantity
         FROM w, orders ord, json_to_recordset(w.j->'items') AS i(product_id text, quantity int, unit_price_cents int, refunded_quantity int)
     ), refunds AS (
       INSERT INTO refunds (id, order_id, amount_cents, reason, status, stripe_refund_id)
       SELECT r.id, (w.j->'order'->>'id')::uuid, r.amount_cents, r.reason, 'succeeded', r.stripe_refund_id
         FROM w, json_to_recordset(w.j->'refunds') AS r(id uuid, amount_cents int, reason text, stripe_refund_id text)
     )
     INSERT INTO refund_items (refund_id, product_id, quantity, amount_cents)
     SELECT ri.refund_id, ri.product_id, ri.quantity, ri.amount_cents
       FROM w, json_to_recordset(w.j->'refund_items') AS ri(refund_id uuid, product_id text, quantity int, amount_cents int)`,
    [JSON.stringify(world)],
  );

  const lines = ordered.map(([p, quantity]) => ({ productId: PRODUCT[p], quantity }));
  // The mirror is what loadStockMirror would load: inventory.quantity.
  await redis().mset(Object.fromEntries(PRODUCTS.map((p) => [keys.stock(PRODUCT[p]), inventory[p]])));
  if (b.holdWhenStockEnough && row.stock === 'enough') {
    expect(await reserve(redis(), db(), orderId, lines, 900)).toEqual({ ok: true });
  }
  return {
    orderId,
    paymentIntentId,
    amountCents,
    lines,
    unrefunded: ordered
      .map(([p, q]) => ({ productId: PRODUCT[p], quantity: q - refundedOf(p, q) }))
      .filter((l) => l.quantity > 0),
    inventory,
    hold:
      b.holdWhenStockEnough && row.stock === 'enough'
        ? Object.fromEntries(lines.map((l) => [l.productId, String(l.quantity)]))
        : {},
    priorRefundIds: refunds.map((r) => r.id),
  };
}

/** What the row's outcome is today: the rule, or the code's behaviour where a finding says it differs. */
const effective = (row: Row): Outcome => ({ ...row.expected, ...row.codeToday?.outcome });

const eventCreated = (row: Row): number | null => ('when' in row.event ? CREATED[row.event.when] : null);
const stripeSays = (row: Row) => ('stripeSays' in row.event ? row.event.stripeSays : undefined);

/**
 * The history rows (and events for other systems) a payment transition writes with it: entering
 * paid, entering failed, failing out of stock after payment. A transition that keeps the status
 * (a success applied again, a newer decline of a failed order) writes none.
 */
function paymentHistory(row: Row, o: Outcome): { types: string[]; topics: string[] } {
  const before = BEFORE[row.before].status;
  if (!o.applies) return { types: [], topics: [] };
  if (o.failureCode === OUT_OF_STOCK)
    return { types: ['out_of_stock_after_payment'], topics: ['order.payment_failed'] };
  if (o.status === 'paid' && before !== 'paid') return { types: ['paid'], topics: ['order.paid'] };
  if (o.status === 'failed' && before !== 'failed')
    return { types: ['payment_failed'], topics: ['order.payment_failed'] };
  return { types: [], topics: [] };
}

/** The world after: orders row, inventory, refunds, Redis and the Stripe calls. */
async function assess(
  row: Row,
  g: Given,
  o: Outcome,
  place: { redis: 'settled' | 'untouched'; stripe: 'as expected' | 'never'; declineCode?: string; cause: Cause },
) {
  const b: BeforeState = BEFORE[row.before];
  const { rows } = await db().query<{
    status: string;
    failure_code: string | null;
    decline_code: string | null;
    failure_product_id: string | null;
    payment_intent_id: string | null;
    last_event_created: string | null;
    now: number;
    inventory: { product_id: string; quantity: number }[];
    new_refunds: {
      id: string;
      amount_cents: number;
      reason: string | null;
      status: string;
      stripe_refund_id: string | null;
    }[];
    history: { type: string; source: string; stripe_event_id: string | null; data: Record<string, unknown> }[];
    topics: string[];
  }>(
    `SELECT o.status, o.failure_code, o.decline_code, o.failure_product_id, o.payment_intent_id, o.last_event_created, extract(epoch FROM now())::float8 AS now,
            (SELECT json_agg(json_build_object('product_id', i.product_id, 'quantity', i.quantity) ORDER BY i.product_id)
               FROM inventory i WHERE i.product_id = ANY($2::text[])) AS inventory,
            (SELECT coalesce(json_agg(json_build_object('id', r.id, 'amount_cents', r.amount_cents, 'reason', r.reason, 'status', r.status,
                                                        'stripe_refund_id', r.stripe_refund_id)), '[]')
               FROM refunds r WHERE r.order_id = o.id AND NOT (r.id = ANY($3::uuid[]))) AS new_refunds,
            (SELECT coalesce(json_agg(json_build_object('type', e.type, 'source', e.source, 'stripe_event_id', e.stripe_event_id,
                                                        'data', e.data) ORDER BY e.id), '[]')
               FROM order_events e
              WHERE e.order_id = o.id AND e.type IN ('paid', 'payment_failed', 'out_of_stock_after_payment')) AS history,
            (SELECT coalesce(json_agg(x.topic ORDER BY x.created_at), '[]') FROM outbox x
              WHERE x.order_id = o.id AND x.topic IN ('order.paid', 'order.payment_failed')) AS topics
       FROM orders o WHERE o.id = $1`,
    [g.orderId, Object.values(PRODUCT), g.priorRefundIds],
  );
  const order = rows[0];
  expect(order).toMatchObject({
    status: o.status,
    failure_code: o.failureCode,
    failure_product_id: o.failureProduct ? PRODUCT[o.failureProduct] : null,
    // Stripe's decline code: the failure's own when one applies, none once paid, else as it was.
    decline_code:
      o.applies && o.failureCode === 'payment_declined'
        ? place.declineCode
        : o.applies && o.status === 'paid'
          ? null
          : b.declineCode,
    // The PaymentIntent is remembered by any transition that applies a payment event.
    payment_intent_id: b.hasPaymentIntent || (o.applies && row.event.kind !== 'refund') ? g.paymentIntentId : null,
  });
  const last = order?.last_event_created == null ? null : Number(order.last_event_created);
  if (o.lastEventCreated === 'before') expect(last).toBe(b.lastEventCreated);
  if (o.lastEventCreated === 'event') expect(last).toBe(eventCreated(row));
  if (o.lastEventCreated === 'now') expect(Math.abs((last ?? 0) - (order?.now ?? NaN))).toBeLessThanOrEqual(1);

  // Stock in PostgreSQL.
  const after = Object.fromEntries(PRODUCTS.map((p) => [p, g.inventory[p] + o.stockDelta[p]])) as Record<
    ProductKey,
    number
  >;
  expect(order?.inventory).toEqual(PRODUCTS.map((p) => ({ product_id: PRODUCT[p], quantity: after[p] })));

  // Redis: a settled order holds nothing (held:{p} deleted at 0) and the mirror moved with the stock
  // (stock taken: taken from the mirror; stock given back: the mirror dropped, so the next order
  // reloads it from PostgreSQL and counts the units once); untouched: the hold and the mirror as they were.
  const holdKeys = [
    keys.reservation(g.orderId),
    ...PRODUCTS.flatMap((p) => [keys.held(PRODUCT[p]), keys.holds(PRODUCT[p])]),
  ];
  const results = await redis()
    .pipeline()
    .exists(...holdKeys)
    .hgetall(keys.reservation(g.orderId))
    .mget(PRODUCTS.map((p) => keys.stock(PRODUCT[p])))
    .exec();
  const [held, hold, mirror] = (results ?? []).map(([error, value]) => (error ? error : value));
  if (place.redis === 'settled') {
    expect(held).toBe(0);
    expect(mirror).toEqual(PRODUCTS.map((p) => (o.stockDelta[p] > 0 ? null : String(after[p]))));
    // What a buyer can hold now is exactly the stock PostgreSQL has.
    for (const p of PRODUCTS) expect(await availableOf(PRODUCT[p])).toBe(after[p]);
  } else {
    expect(hold).toEqual(g.hold);
    expect(mirror).toEqual(PRODUCTS.map((p) => String(g.inventory[p])));
  }

  // Money: at most one new refund, succeeded, and exactly that call to Stripe.
  const newRefunds = order?.new_refunds ?? [];
  const refund = place.stripe === 'as expected' ? o.stripeRefund : null;
  if (!refund) {
    expect(newRefunds).toEqual([]);
    expect(mockRefundsCreate).not.toHaveBeenCalled();
  } else {
    const reason = refund.reason === OUT_OF_STOCK ? OUT_OF_STOCK : null;
    expect(newRefunds).toEqual([
      {
        id: expect.any(String),
        amount_cents: refund.amountCents,
        reason,
        status: 'succeeded',
        stripe_refund_id: expect.stringMatching(/^re_/),
      },
    ]);
    const id = newRefunds[0]?.id;
    expect(mockRefundsCreate).toHaveBeenCalledTimes(1);
    expect(mockRefundsCreate).toHaveBeenCalledWith(
      {
        payment_intent: g.paymentIntentId,
        amount: refund.amountCents,
        metadata: { order_id: g.orderId, refund_id: id, ...(reason ? { reason } : {}) },
      },
      { idempotencyKey: `refund-${id}` },
    );
  }
  if (place.stripe === 'as expected' && o.stripeAsked) {
    expect(mockPaymentIntentsRetrieve).toHaveBeenCalledTimes(1);
    expect(mockPaymentIntentsRetrieve.mock.calls[0]?.[0]).toBe(g.paymentIntentId);
  } else {
    expect(mockPaymentIntentsRetrieve).not.toHaveBeenCalled();
  }
  expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  expect(mockPaymentIntentsSearch).not.toHaveBeenCalled();
  expect(mockRefundsList).not.toHaveBeenCalled();

  // History and outbox: written with the transition, by its cause; a paid order's failure says so.
  const written = paymentHistory(row, o);
  expect({ types: order?.history.map((h) => h.type), topics: order?.topics }).toEqual(written);
  for (const h of order?.history ?? []) {
    expect({ source: h.source, stripeEventId: h.stripe_event_id }).toEqual({
      source: place.cause.source,
      stripeEventId: place.cause.stripeEventId ?? null,
    });
  }
  const failure = order?.history.find((h) => h.type === 'payment_failed');
  if (failure) {
    expect(failure.data).toMatchObject({ previousStatus: b.status, failureCode: 'payment_declined' });
    expect(failure.data.stockGivenBack).toEqual(b.status === 'paid' ? g.unrefunded : undefined);
  }
}

const cases = (rows: Row[]) => rows.map((row) => ({ name: rowName(row), row }));
const succeeded = (via: 'sync' | 'webhook') =>
  PAYMENT_TRANSITIONS.filter((r) => r.event.kind === 'succeeded' && r.event.via === via);
const failedRows = (via: 'sync' | 'webhook') =>
  PAYMENT_TRANSITIONS.filter((r) => r.event.kind === 'failed' && r.event.via === via);
/** Decline codes other than the fixture's (generic_decline), so a failure applied twice shows. */
const SYNC_DECLINE = 'do_not_honor';
const WEBHOOK_DECLINE = 'insufficient_funds'; // what helpers/webhooks' payment_failed events carry
const declineFields = (g: Given) => ({
  failureCode: 'payment_declined',
  declineCode: SYNC_DECLINE,
  paymentIntentId: g.paymentIntentId,
});

/** The causes each place records (any source works the same; each place uses a different one). */
const WEBHOOK: Cause = { source: 'webhook', stripeEventId: 'evt_spec_transition' };
const API: Cause = { source: 'api' };
const SCHEDULER: Cause = { source: 'scheduler' };

beforeEach(() => stripeRefunds());

describe('the order_paid SQL function, called directly (the caller, not the function, fails an order out of stock and moves Redis)', () => {
  test.each(cases([...succeeded('sync'), ...succeeded('webhook')]))('$name', async ({ row }) => {
    // Prepare
    const g = await given(row);
    const o = effective(row);
    const entersPaid = o.applies && o.status === 'paid';
    const outOfStock = o.applies && o.failureCode === OUT_OF_STOCK;

    // Act
    const { rows } = await db().query('SELECT * FROM order_paid($1, $2, $3, $4, $5)', [
      g.orderId,
      g.paymentIntentId,
      eventCreated(row),
      WEBHOOK.source,
      WEBHOOK.stripeEventId,
    ]);

    // Assess
    expect(rows).toEqual([
      {
        outcome: entersPaid ? 'paid' : outOfStock ? 'out_of_stock' : 'unchanged',
        previous: BEFORE[row.before].status,
        short_product: outOfStock && o.failureProduct ? PRODUCT[o.failureProduct] : null,
        lines: g.unrefunded.length > 0 ? g.unrefunded : null,
      },
    ]);
    await assess(row, g, entersPaid ? o : ignored(row.before), { redis: 'untouched', stripe: 'never', cause: WEBHOOK });
  });
});

describe("settlePaid with an event: order_paid, then the out-of-stock failure and refund, then Redis (the webhook's success path)", () => {
  test.each(cases(succeeded('webhook')))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);

    const outcome = await settlePaid(testDeps(), g.orderId, g.paymentIntentId, WEBHOOK, {
      created: eventCreated(row) as number,
    });

    expect(outcome).toEqual(
      !o.applies
        ? { kind: 'unchanged' }
        : o.status === 'paid'
          ? { kind: 'paid' }
          : { kind: 'out_of_stock', productId: PRODUCT[o.failureProduct as ProductKey] },
    );
    await assess(row, g, o, { redis: 'settled', stripe: 'as expected', cause: WEBHOOK });
  });
});

describe("settlePaid with the known lines and no event: the one-statement confirm, else order_paid (create-order's path)", () => {
  test.each(cases(succeeded('sync')))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);

    const outcome = await settlePaid(testDeps(), g.orderId, g.paymentIntentId, API, undefined, g.lines);

    expect(outcome).toEqual(
      !o.applies
        ? { kind: 'unchanged' }
        : o.status === 'paid'
          ? { kind: 'paid' }
          : { kind: 'out_of_stock', productId: PRODUCT[o.failureProduct as ProductKey] },
    );
    await assess(row, g, o, { redis: 'settled', stripe: 'as expected', cause: API });
  });
});

describe("settleFailed with Stripe's word that the PaymentIntent did not succeed (a synchronous decline; the webhook after asking)", () => {
  const truthful = [
    ...failedRows('sync'),
    ...failedRows('webhook').filter((r) => stripeSays(r) === 'requires_payment_method'),
  ];
  test.each(cases(truthful))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);
    const created = eventCreated(row);

    const outcome = await settleFailed(
      testDeps(),
      g.orderId,
      declineFields(g),
      SCHEDULER,
      created === null ? undefined : { created },
      true,
    );

    expect(outcome).toEqual({ kind: o.applies ? 'failed' : 'unchanged' });
    await assess(row, g, o, { redis: 'settled', stripe: 'never', declineCode: SYNC_DECLINE, cause: SCHEDULER });
  });
});

describe("settleFailed without Stripe's word: a paid order stays paid and the answer 'paid' tells the caller to ask Stripe", () => {
  const once = failedRows('webhook').filter((r) => stripeSays(r) !== 'processing' && stripeSays(r) !== 'succeeded');
  test.each(cases([...failedRows('sync'), ...once]))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);
    const created = eventCreated(row);
    const mustAsk = BEFORE[row.before].status === 'paid' && (o.applies || o.stripeAsked);

    const outcome = await settleFailed(
      testDeps(),
      g.orderId,
      declineFields(g),
      WEBHOOK,
      created === null ? undefined : { created },
    );

    expect(outcome).toEqual({ kind: mustAsk ? 'paid' : o.applies ? 'failed' : 'unchanged' });
    await assess(row, g, mustAsk ? ignored(row.before) : o, {
      redis: 'settled',
      stripe: 'never',
      declineCode: SYNC_DECLINE,
      cause: WEBHOOK,
    });
  });
});

describe('POST /webhooks/stripe (asks Stripe before a paid order leaves paid)', () => {
  const webhookRows = PAYMENT_TRANSITIONS.filter(
    (r) => (r.event.kind === 'succeeded' || r.event.kind === 'failed') && r.event.via === 'webhook',
  );
  test.each(cases(webhookRows))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);
    const says = stripeSays(row);
    if (says) {
      mockPaymentIntentsRetrieve.mockResolvedValue(
        paymentIntent({
          id: g.paymentIntentId,
          status: says,
          amount: g.amountCents,
          currency: 'usd',
          orderId: g.orderId,
        }),
      );
    }
    const type = row.event.kind === 'succeeded' ? 'payment_intent.succeeded' : 'payment_intent.payment_failed';
    const order = { id: g.orderId, paymentIntentId: g.paymentIntentId, amountCents: g.amountCents, currency: 'usd' };

    const { event, payload } = paymentEvent(type, order, { created: eventCreated(row) as number });

    const response = await deliver(payload);

    expect(response.statusCode).toBe(200);
    expect(response.body).toEqual({ received: true });
    await assess(row, g, o, {
      redis: 'settled',
      stripe: 'as expected',
      declineCode: WEBHOOK_DECLINE,
      cause: { source: 'webhook', stripeEventId: event.id },
    });
  });
});

describe('POST /orders/{orderId}/refunds', () => {
  test.each(cases(PAYMENT_TRANSITIONS.filter((r) => r.event.kind === 'refund')))('$name', async ({ row }) => {
    const g = await given(row);
    const o = effective(row);
    const { event } = row;
    if (event.kind !== 'refund') throw new Error('not a refund row');
    const items =
      event.units === 'everything left'
        ? undefined
        : Object.entries(event.units).map(([p, quantity]) => ({ productId: PRODUCT[p as ProductKey], quantity }));

    const response = await postRefund(g.orderId, items ? { items } : undefined);

    expect(response.statusCode).toBe(o.answer);
    if (o.answer === 201) expect(response.body.order).toEqual({ id: g.orderId, status: o.status });
    if (o.answer === 409) expect(response.body.error.code).toBe('order_not_refundable');
    if (o.answer === 422) expect(response.body.error.code).toBe('refund_quantity_exceeded');
    // A refused refund leaves Redis as it was (a pending order keeps its hold).
    await assess(row, g, o, {
      redis: o.answer === 201 ? 'settled' : 'untouched',
      stripe: 'as expected',
      cause: { source: 'api' },
    });
  });
});
