import type Stripe from 'stripe';
import { givenProduct, inventoryOf, orderRow } from '../helpers/builders';
import { db, redis } from '../helpers/harness';
import { givenPaidOrder } from '../helpers/orders';
import { event as stripeEvent } from '../helpers/stripe-fixtures';
import { deliver } from '../helpers/webhooks';

/**
 * charge.dispute.created / updated / closed: the order's dispute (a `disputes` row) follows Stripe,
 * newest event first; the order's status, stock and money do not move. The Dispute objects follow
 * Stripe's API reference (docs.stripe.com/api/disputes/object).
 */

type DisputeType = 'charge.dispute.created' | 'charge.dispute.updated' | 'charge.dispute.closed';

const T = 1_750_000_000;
const DUE_BY = 1_751_500_799;

function dispute(o: {
  id?: string;
  paymentIntentId: string | null;
  amount: number;
  status: string;
  reason?: string;
  dueBy?: number | null;
}) {
  return {
    id: o.id ?? 'du_1MtJUT2eZvKYlo2CNaw2HvEv',
    object: 'dispute',
    amount: o.amount,
    balance_transactions: [],
    charge: 'ch_1AZtxr2eZvKYlo2CJDX8whov',
    created: T - 100,
    currency: 'usd',
    evidence: { customer_name: null, uncategorized_text: null },
    evidence_details: {
      due_by: o.dueBy === undefined ? DUE_BY : o.dueBy,
      has_evidence: false,
      past_due: false,
      submission_count: 0,
    },
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    payment_intent: o.paymentIntentId,
    reason: o.reason ?? 'fraudulent',
    status: o.status,
  };
}

function disputeEvent(type: DisputeType, object: ReturnType<typeof dispute>, created: number): Stripe.Event {
  return stripeEvent(type, object, { created });
}

const send = (e: Stripe.Event) => deliver(JSON.stringify(e));

async function disputeRows(orderId: string) {
  const { rows } = await db().query(
    `SELECT stripe_dispute_id, amount_cents, currency, reason, status, evidence_due_by, last_event_created
       FROM disputes WHERE order_id = $1`,
    [orderId],
  );
  return rows;
}

async function historyOf(orderId: string) {
  const { rows } = await db().query<{ type: string; source: string; stripe_event_id: string | null; data: unknown }>(
    `SELECT type, source, stripe_event_id, data FROM order_events
      WHERE order_id = $1 AND type LIKE 'dispute_%' ORDER BY id`,
    [orderId],
  );
  return rows;
}

async function outboxOf(orderId: string) {
  const { rows } = await db().query<{ topic: string; payload: unknown }>(
    `SELECT topic, payload FROM outbox WHERE order_id = $1 AND topic LIKE 'dispute.%' ORDER BY created_at, id`,
    [orderId],
  );
  return rows;
}

async function givenDisputableOrder() {
  const product = await givenProduct({ priceCents: 2500, stock: 5 });
  const order = await givenPaidOrder([{ productId: product.id, quantity: 2 }]);
  return { product, order };
}

const DATA = {
  disputeId: 'du_1MtJUT2eZvKYlo2CNaw2HvEv',
  amountCents: 5000,
  currency: 'usd',
  reason: 'fraudulent',
  evidenceDueBy: new Date(DUE_BY * 1000).toISOString(),
};

describe('charge.dispute.*', () => {
  test('created, updated, closed: the dispute follows Stripe, each step in the history; the order does not move', async () => {
    const { product, order } = await givenDisputableOrder();
    const opened = disputeEvent(
      'charge.dispute.created',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'needs_response' }),
      T,
    );
    const reviewed = disputeEvent(
      'charge.dispute.updated',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'under_review' }),
      T + 10,
    );
    const lost = disputeEvent(
      'charge.dispute.closed',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'lost' }),
      T + 20,
    );

    const responses = [];
    responses.push(await send(opened));
    expect(await disputeRows(order.id)).toEqual([
      {
        stripe_dispute_id: DATA.disputeId,
        amount_cents: 5000,
        currency: 'usd',
        reason: 'fraudulent',
        status: 'needs_response',
        evidence_due_by: new Date(DUE_BY * 1000),
        last_event_created: String(T),
      },
    ]);
    responses.push(await send(reviewed));
    expect(await disputeRows(order.id)).toMatchObject([{ status: 'under_review', last_event_created: String(T + 10) }]);
    responses.push(await send(lost));

    expect(responses.map((r) => [r.statusCode, r.body])).toEqual([
      [200, { received: true }],
      [200, { received: true }],
      [200, { received: true }],
    ]);
    expect(await disputeRows(order.id)).toMatchObject([{ status: 'lost', last_event_created: String(T + 20) }]);
    expect(await historyOf(order.id)).toEqual([
      {
        type: 'dispute_opened',
        source: 'webhook',
        stripe_event_id: opened.id,
        data: { ...DATA, status: 'needs_response' },
      },
      {
        type: 'dispute_updated',
        source: 'webhook',
        stripe_event_id: reviewed.id,
        data: { ...DATA, status: 'under_review' },
      },
      { type: 'dispute_closed', source: 'webhook', stripe_event_id: lost.id, data: { ...DATA, status: 'lost' } },
    ]);
    expect(await outboxOf(order.id)).toEqual([
      { topic: 'dispute.opened', payload: { ...DATA, status: 'needs_response' } },
      { topic: 'dispute.closed', payload: { ...DATA, status: 'lost' } },
    ]);
    expect(await orderRow(order.id)).toMatchObject({ status: 'paid' });
    expect(await inventoryOf(product.id)).toBe(3);
  });

  test('an event older than the last one applied never moves the dispute back, nor writes history', async () => {
    const { order } = await givenDisputableOrder();
    const won = disputeEvent(
      'charge.dispute.closed',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'won' }),
      T + 20,
    );
    const lateUpdate = disputeEvent(
      'charge.dispute.updated',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 4000, status: 'under_review', reason: 'general' }),
      T + 10,
    );
    const lateCreate = disputeEvent(
      'charge.dispute.created',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 4000, status: 'needs_response' }),
      T,
    );

    await send(won);
    const responses = [await send(lateUpdate), await send(lateCreate)];

    expect(responses.map((r) => r.statusCode)).toEqual([200, 200]);
    expect(await disputeRows(order.id)).toMatchObject([
      { status: 'won', amount_cents: 5000, reason: 'fraudulent', last_event_created: String(T + 20) },
    ]);
    // Its first event seen opens it, the closing one closes it; the late ones add nothing.
    expect((await historyOf(order.id)).map((h) => [h.type, h.stripe_event_id])).toEqual([
      ['dispute_opened', won.id],
      ['dispute_closed', won.id],
    ]);
    expect((await outboxOf(order.id)).map((o) => o.topic)).toEqual(['dispute.opened', 'dispute.closed']);
    // The late events were applied (nothing to do) and are marked, so Stripe stops retrying them.
    expect(await redis().exists(`stripe:event:${lateUpdate.id}`)).toBe(1);
  });

  test('an event of the same second as the last applied never reopens a closed dispute', async () => {
    const { order } = await givenDisputableOrder();
    const lost = disputeEvent(
      'charge.dispute.closed',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'lost' }),
      T,
    );
    const sameSecond = disputeEvent(
      'charge.dispute.updated',
      dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'under_review' }),
      T,
    );

    await send(lost);
    await send(sameSecond);

    expect(await disputeRows(order.id)).toMatchObject([{ status: 'lost' }]);
  });

  test('no evidence allowed (due_by 0, or null) is stored as no due date', async () => {
    const { order } = await givenDisputableOrder();

    await send(
      disputeEvent(
        'charge.dispute.created',
        dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'warning_needs_response', dueBy: 0 }),
        T,
      ),
    );
    await send(
      disputeEvent(
        'charge.dispute.created',
        dispute({
          id: 'dp_older_style_1',
          paymentIntentId: order.paymentIntentId,
          amount: 10,
          status: 'needs_response',
          dueBy: null,
        }),
        T,
      ),
    );

    expect((await disputeRows(order.id)).map((d) => [d.stripe_dispute_id, d.evidence_due_by])).toEqual([
      [DATA.disputeId, null],
      ['dp_older_style_1', null],
    ]);
  });

  test('a dispute for a PaymentIntent of no order of ours, or with none, is acknowledged and recorded nowhere', async () => {
    const { order } = await givenDisputableOrder();

    const responses = [
      await send(
        disputeEvent(
          'charge.dispute.created',
          dispute({ paymentIntentId: 'pi_not_ours_123', amount: 5000, status: 'needs_response' }),
          T,
        ),
      ),
      await send(
        disputeEvent(
          'charge.dispute.created',
          dispute({ paymentIntentId: null, amount: 5000, status: 'needs_response' }),
          T,
        ),
      ),
    ];

    expect(responses.map((r) => [r.statusCode, r.body])).toEqual([
      [200, { received: true }],
      [200, { received: true }],
    ]);
    const { rows } = await db().query('SELECT count(*)::int AS n FROM disputes');
    expect(rows).toEqual([{ n: 0 }]);
    expect(await historyOf(order.id)).toEqual([]);
  });

  test.each([
    ['no data.object', () => null],
    ['an id that is not a dispute', (o: Record<string, unknown>) => ({ ...o, id: 'ch_123' })],
    ['object of another type', (o: Record<string, unknown>) => ({ ...o, object: 'charge' })],
    ['amount missing', (o: Record<string, unknown>) => ({ ...o, amount: undefined })],
    ['amount a string', (o: Record<string, unknown>) => ({ ...o, amount: '5000' })],
    ['amount negative', (o: Record<string, unknown>) => ({ ...o, amount: -1 })],
    ['currency upper-case', (o: Record<string, unknown>) => ({ ...o, currency: 'USD' })],
    ['status missing', (o: Record<string, unknown>) => ({ ...o, status: undefined })],
    ['reason a number', (o: Record<string, unknown>) => ({ ...o, reason: 3 })],
    ['evidence_details missing', (o: Record<string, unknown>) => ({ ...o, evidence_details: undefined })],
    ['due_by a string', (o: Record<string, unknown>) => ({ ...o, evidence_details: { due_by: 'soon' } })],
    ['payment_intent a number', (o: Record<string, unknown>) => ({ ...o, payment_intent: 42 })],
    ['charge missing', (o: Record<string, unknown>) => ({ ...o, charge: undefined })],
  ] as [string, (o: Record<string, unknown>) => Record<string, unknown> | null][])(
    'a signed dispute event with %s gets 400 invalid_request; nothing recorded, nothing marked',
    async (_, malform) => {
      const { order } = await givenDisputableOrder();
      for (const type of ['charge.dispute.created', 'charge.dispute.updated', 'charge.dispute.closed'] as const) {
        const object = dispute({ paymentIntentId: order.paymentIntentId, amount: 5000, status: 'needs_response' });
        const e = disputeEvent(type, object, T);
        const body = { ...e, data: { object: malform(object as unknown as Record<string, unknown>) } };

        const response = await deliver(JSON.stringify(body));

        expect({ type, status: response.statusCode, code: response.body.error?.code }).toEqual({
          type,
          status: 400,
          code: 'invalid_request',
        });
      }
      expect(await disputeRows(order.id)).toEqual([]);
      expect(await historyOf(order.id)).toEqual([]);
      expect(await redis().keys('stripe:event:*')).toEqual([]);
    },
  );
});
