/**
 * THE payment transitions of an order, as one table: (order before) x (what happened) x (stock on
 * hand) -> (order after, stock moved, money moved, Stripe asked). Pure data and types, no I/O.
 *
 * Derived from the documented rules, not from running the code:
 * - CONTRACT.md, POST /webhooks/stripe: "order status follows the event with the latest
 *   event.created, not arrival order; a same-second tie goes to succeeded. Entering paid takes the
 *   stock once; leaving it gives it back once. Money and status never disagree."
 * - ARCHITECTURE.md "Why the stock stays right": confirm is guarded (quantity >= n) for every line, all or
 *   nothing; a payment that succeeds after its hold expired and the stock was sold fails the order
 *   with out_of_stock_after_payment and refunds it in full.
 * - ARCHITECTURE.md "Refunds and webhooks racing": a newer payment_failed for a paid order asks Stripe
 *   (paymentIntents.retrieve); succeeded or processing keeps it paid; only Stripe's word that the
 *   PaymentIntent did not succeed moves it to failed and gives back its unrefunded stock, once.
 * - lib/orders/payment-state.ts: a synchronous answer from Stripe counts as an event of "now";
 *   a failure needs a strictly newer event; 'refunded' and out_of_stock_after_payment are past the
 *   payment states (db/migrations order_paid: "not a payment state").
 * - CONTRACT.md, POST /orders/{orderId}/refunds: only a paid order is refundable (409
 *   order_not_refundable); more than bought minus refunded is 422 refund_quantity_exceeded; the
 *   stock of exactly the refunded quantities comes back; Stripe refunds.create({ payment_intent,
 *   amount }); the order is refunded when nothing is left, else stays paid.
 *
 * Where the code does not follow the documented rule, the row says so in `codeToday` (what the
 * code does instead, and why that is a finding). The tests assert `codeToday` there, so a fix shows
 * up as a failing row whose `codeToday` is then deleted.
 */

/** Unix seconds of the last event applied to every order below that has one (any past second). */
export const T0 = 1_700_000_000;

export type ProductKey = 'A' | 'B';

/** Two products, A sorting before B (stock rows are locked in product order). */
export const PRICES: Record<ProductKey, number> = { A: 1000, B: 500 };

/** The order's lines. Two lines by default; one line to reach the one-row confirm statement. */
export const ORDERS = {
  two_lines: { A: 2, B: 3 },
  one_line: { A: 2 },
} as const satisfies Record<string, Partial<Record<ProductKey, number>>>;
export type OrderShape = keyof typeof ORDERS;

export const AMOUNT: Record<OrderShape, number> = { two_lines: 2 * 1000 + 3 * 500, one_line: 2 * 1000 };

/** inventory.quantity (and its Redis mirror) when the event arrives. */
export const STOCK = {
  enough: { two_lines: { A: 10, B: 10 }, one_line: { A: 10, B: 10 } },
  /** The last line is short (the hold expired and others bought it); every other line has plenty. */
  too_few: { two_lines: { A: 10, B: 2 }, one_line: { A: 1, B: 10 } },
} as const satisfies Record<string, Record<OrderShape, Record<ProductKey, number>>>;
export type StockLevel = keyof typeof STOCK;

/** The product that lacks stock in `too_few`. */
export const SHORT: Record<OrderShape, ProductKey> = { two_lines: 'B', one_line: 'A' };

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'refunded';
export type FailureCode = 'payment_declined' | 'insufficient_inventory' | 'out_of_stock_after_payment';

/** A refund recorded before the event: which units it gave back ('all': every unit; none: money only). */
export interface PriorRefund {
  units: 'all' | Partial<Record<ProductKey, number>>;
  reason: string;
}

export interface BeforeState {
  status: OrderStatus;
  failureCode: FailureCode | null;
  /** failure_product_id: the product that lacked stock. */
  failureProduct: ProductKey | null;
  declineCode: string | null;
  /** last_event_created: null while no event (nor synchronous answer) was ever applied. */
  lastEventCreated: number | null;
  /** Whether the order knows its PaymentIntent (an order refused for stock never charged). */
  hasPaymentIntent: boolean;
  /** refunded_quantity per line ('all': every unit). */
  refunded: 'all' | Partial<Record<ProductKey, number>>;
  /** Succeeded refunds (rows in `refunds`) already recorded. */
  refunds: PriorRefund[];
  /** A live hold in Redis (reservation:{orderId}) for its lines: only a pending order whose stock is still there has one. */
  holdWhenStockEnough: boolean;
}

export const BEFORE = {
  pending: {
    status: 'pending',
    failureCode: null,
    failureProduct: null,
    declineCode: null,
    lastEventCreated: null,
    hasPaymentIntent: true,
    refunded: {},
    refunds: [],
    holdWhenStockEnough: true,
  },
  paid: {
    status: 'paid',
    failureCode: null,
    failureProduct: null,
    declineCode: null,
    lastEventCreated: T0,
    hasPaymentIntent: true,
    refunded: {},
    refunds: [],
    holdWhenStockEnough: false,
  },
  'failed(payment_declined)': {
    status: 'failed',
    failureCode: 'payment_declined',
    failureProduct: null,
    declineCode: 'generic_decline',
    lastEventCreated: T0,
    hasPaymentIntent: true,
    refunded: {},
    refunds: [],
    holdWhenStockEnough: false,
  },
  'failed(insufficient_inventory)': {
    status: 'failed',
    failureCode: 'insufficient_inventory',
    failureProduct: 'A',
    declineCode: null,
    lastEventCreated: T0,
    hasPaymentIntent: false,
    refunded: {},
    refunds: [],
    holdWhenStockEnough: false,
  },
  'failed(out_of_stock_after_payment)': {
    status: 'failed',
    failureCode: 'out_of_stock_after_payment',
    failureProduct: 'A',
    declineCode: null,
    lastEventCreated: T0,
    hasPaymentIntent: true,
    refunded: {},
    refunds: [{ units: {}, reason: 'out_of_stock_after_payment' }],
    holdWhenStockEnough: false,
  },
  refunded: {
    status: 'refunded',
    failureCode: null,
    failureProduct: null,
    declineCode: null,
    lastEventCreated: T0,
    hasPaymentIntent: true,
    refunded: 'all',
    refunds: [{ units: 'all', reason: 'requested_by_customer' }],
    holdWhenStockEnough: false,
  },
  'paid, partially refunded': {
    status: 'paid',
    failureCode: null,
    failureProduct: null,
    declineCode: null,
    lastEventCreated: T0,
    hasPaymentIntent: true,
    refunded: { A: 1 },
    refunds: [{ units: { A: 1 }, reason: 'requested_by_customer' }],
    holdWhenStockEnough: false,
  },
} as const satisfies Record<string, BeforeState>;
export type Before = keyof typeof BEFORE;

/** A webhook's event.created against the order's last_event_created (T0): T0 - 1, T0, T0 + 1. */
export type When = 'older' | 'same_second' | 'newer';
export const CREATED: Record<When, number> = { older: T0 - 1, same_second: T0, newer: T0 + 1 };

/** What paymentIntents.retrieve answers when the service asks Stripe about the PaymentIntent. */
export type StripeSays = 'succeeded' | 'processing' | 'requires_payment_method';

export type PaymentEvent =
  /** Stripe's synchronous answer to the confirm (create-order): an event of "now". */
  | { kind: 'succeeded'; via: 'sync' }
  | { kind: 'succeeded'; via: 'webhook'; when: When }
  /** A synchronous decline: Stripe's own word that the PaymentIntent did not succeed. */
  | { kind: 'failed'; via: 'sync' }
  /** `stripeSays`: set where the service must ask Stripe (a newer failure for a paid order). */
  | { kind: 'failed'; via: 'webhook'; when: When; stripeSays?: StripeSays }
  /** POST /orders/{id}/refunds: `units` per product, or everything not yet refunded. */
  | { kind: 'refund'; units: 'everything left' | Partial<Record<ProductKey, number>> };

export interface Outcome {
  /** The event moves the order (or confirms it paid again); false: ignored, nothing changes. */
  applies: boolean;
  status: OrderStatus;
  failureCode: FailureCode | null;
  failureProduct: ProductKey | null;
  /** inventory.quantity change per product (the Redis stock mirror moves with it). */
  stockDelta: Record<ProductKey, number>;
  /** last_event_created after: unchanged, the event's created, or "now" (a synchronous answer). */
  lastEventCreated: 'before' | 'event' | 'now';
  /** The refund sent to Stripe (refunds.create), or none. */
  stripeRefund: { amountCents: number; reason: 'out_of_stock_after_payment' | 'operator' } | null;
  /** The service asks Stripe for the PaymentIntent (paymentIntents.retrieve) before deciding. */
  stripeAsked: boolean;
  /** The refund route's HTTP status (refund rows only). */
  answer?: 201 | 409 | 422;
}

export interface Row {
  before: Before;
  order: OrderShape;
  event: PaymentEvent;
  stock: StockLevel;
  expected: Outcome;
  /** The code disagrees with the documented rule here: what it does instead, and the finding. */
  codeToday?: { outcome: Partial<Outcome>; finding: string };
}

// ── outcomes ────────────────────────────────────────────────────────────────────────────────────

const NO_STOCK: Record<ProductKey, number> = { A: 0, B: 0 };
const stock = (d: Partial<Record<ProductKey, number>>): Record<ProductKey, number> => ({ ...NO_STOCK, ...d });

/** The event is ignored: the order stays exactly as it was. */
export function ignored(before: Before): Outcome {
  const b: BeforeState = BEFORE[before];
  return {
    applies: false,
    status: b.status,
    failureCode: b.failureCode,
    failureProduct: b.failureProduct,
    stockDelta: NO_STOCK,
    lastEventCreated: 'before',
    stripeRefund: null,
    stripeAsked: false,
  };
}

/** Enters (or stays in) paid; `taken` is the stock it takes on entering. */
function paid(taken: Partial<Record<ProductKey, number>>, last: Outcome['lastEventCreated']): Outcome {
  return {
    applies: true,
    status: 'paid',
    failureCode: null,
    failureProduct: null,
    stockDelta: stock(taken),
    lastEventCreated: last,
    stripeRefund: null,
    stripeAsked: false,
  };
}

/** Paid, but a line's stock is gone: failed out_of_stock_after_payment, nothing taken, refunded in full. */
function outOfStock(order: OrderShape, last: Outcome['lastEventCreated']): Outcome {
  return {
    applies: true,
    status: 'failed',
    failureCode: 'out_of_stock_after_payment',
    failureProduct: SHORT[order],
    stockDelta: NO_STOCK,
    lastEventCreated: last,
    stripeRefund: { amountCents: AMOUNT[order], reason: 'out_of_stock_after_payment' },
    stripeAsked: false,
  };
}

/** Failed (payment_declined); `givenBack` is the unrefunded stock a paid order returns on leaving paid. */
function failed(
  givenBack: Partial<Record<ProductKey, number>>,
  last: Outcome['lastEventCreated'],
  o: { stripeAsked?: boolean } = {},
): Outcome {
  return {
    applies: true,
    status: 'failed',
    failureCode: 'payment_declined',
    failureProduct: null,
    stockDelta: stock(givenBack),
    lastEventCreated: last,
    stripeRefund: null,
    stripeAsked: o.stripeAsked ?? false,
  };
}

/** A newer failure for a paid order, and Stripe says the PaymentIntent succeeded (or is processing): stays paid. */
function keptPaid(before: Before): Outcome {
  return { ...ignored(before), stripeAsked: true };
}

function refundAnswer(
  answer: 201,
  status: OrderStatus,
  back: Partial<Record<ProductKey, number>>,
  amountCents: number,
): Outcome;
function refundAnswer(answer: 409 | 422, before: Before): Outcome;
function refundAnswer(
  answer: 201 | 409 | 422,
  a: OrderStatus | Before,
  back?: Partial<Record<ProductKey, number>>,
  amountCents?: number,
): Outcome {
  if (answer !== 201) return { ...ignored(a as Before), answer };
  return {
    applies: true,
    status: a as OrderStatus,
    failureCode: null,
    failureProduct: null,
    stockDelta: stock(back ?? {}),
    lastEventCreated: 'before',
    stripeRefund: { amountCents: amountCents ?? 0, reason: 'operator' },
    stripeAsked: false,
    answer,
  };
}

// ── events ──────────────────────────────────────────────────────────────────────────────────────

const SUCCEEDED_SYNC = { kind: 'succeeded', via: 'sync' } as const;
const succeededWebhook = (when: When) => ({ kind: 'succeeded', via: 'webhook', when }) as const;
const FAILED_SYNC = { kind: 'failed', via: 'sync' } as const;
const failedWebhook = (when: When, stripeSays?: StripeSays) =>
  ({ kind: 'failed', via: 'webhook', when, ...(stripeSays ? { stripeSays } : {}) }) as const;
const WHENS: When[] = ['older', 'same_second', 'newer'];

/** One row per stock level for an event whose outcome depends on the stock. */
function byStock(
  before: Before,
  order: OrderShape,
  event: PaymentEvent,
  outcomes: Record<StockLevel, Outcome>,
  codeToday?: Partial<Record<StockLevel, Row['codeToday']>>,
): Row[] {
  return (['enough', 'too_few'] as const).map((s) => ({
    before,
    order,
    event,
    stock: s,
    expected: outcomes[s],
    ...(codeToday?.[s] ? { codeToday: codeToday[s] } : {}),
  }));
}

/** Events that never touch stock on entering paid run with enough stock only. */
const row = (before: Before, event: PaymentEvent, expected: Outcome, order: OrderShape = 'two_lines'): Row => ({
  before,
  order,
  event,
  stock: 'enough',
  expected,
});

const TAKE: Record<OrderShape, Partial<Record<ProductKey, number>>> = {
  two_lines: { A: -2, B: -3 },
  one_line: { A: -2 },
};

/** Synchronous success: payPending first when the order is pending; order_paid decides everything else. */
function successRows(
  before: Before,
  outcomes: (order: OrderShape, via: 'sync' | When) => Record<StockLevel, Outcome>,
  codeToday?: (order: OrderShape, via: 'sync' | When) => Partial<Record<StockLevel, Row['codeToday']>> | undefined,
): Row[] {
  return [
    ...(['two_lines', 'one_line'] as const).flatMap((order) =>
      byStock(before, order, SUCCEEDED_SYNC, outcomes(order, 'sync'), codeToday?.(order, 'sync')),
    ),
    ...WHENS.flatMap((when) =>
      byStock(before, 'two_lines', succeededWebhook(when), outcomes('two_lines', when), codeToday?.('two_lines', when)),
    ),
  ];
}

/** For a state the success enters paid from: paid when every line has its stock, else out of stock after payment. */
const entersPaid = (
  order: OrderShape,
  via: 'sync' | When,
  last: Outcome['lastEventCreated'] = via === 'sync' ? 'now' : 'event',
) => ({
  enough: paid(TAKE[order], last),
  too_few: outOfStock(order, last),
});

// ── the table ───────────────────────────────────────────────────────────────────────────────────

export const PAYMENT_TRANSITIONS: Row[] = [
  // pending: no event applied yet (last_event_created null), so every event applies, whatever its created.
  ...successRows('pending', (order, via) => entersPaid(order, via)),
  row('pending', FAILED_SYNC, failed({}, 'now')),
  ...WHENS.map((when) => row('pending', failedWebhook(when), failed({}, 'event'))),
  row('pending', { kind: 'refund', units: 'everything left' }, refundAnswer(409, 'pending')),
  row('pending', { kind: 'refund', units: { A: 1 } }, refundAnswer(409, 'pending')),

  // paid: a success changes nothing (its stock was taken once); a same-second or newer one is
  // recorded as the latest event applied (applies: true, no stock moves), an older one ignored; a
  // newer failure needs Stripe's word. (order_paid answers 'paid' with previous 'paid' for a paid
  // order unless the event is older; settlePaid relies on that to drop a leftover hold.)
  ...successRows('paid', (_, via) =>
    via === 'older'
      ? { enough: ignored('paid'), too_few: ignored('paid') }
      : { enough: paid({}, via === 'sync' ? 'now' : 'event'), too_few: paid({}, via === 'sync' ? 'now' : 'event') },
  ),
  row('paid', FAILED_SYNC, failed({ A: 2, B: 3 }, 'now')),
  row('paid', failedWebhook('older'), ignored('paid')),
  row('paid', failedWebhook('same_second'), ignored('paid')), // a same-second tie goes to succeeded: Stripe not even asked
  row('paid', failedWebhook('newer', 'succeeded'), keptPaid('paid')),
  row('paid', failedWebhook('newer', 'processing'), keptPaid('paid')),
  row(
    'paid',
    failedWebhook('newer', 'requires_payment_method'),
    failed({ A: 2, B: 3 }, 'event', { stripeAsked: true }),
  ),
  row('paid', { kind: 'refund', units: { A: 1 } }, refundAnswer(201, 'paid', { A: 1 }, 1000)),
  row('paid', { kind: 'refund', units: { A: 3 } }, refundAnswer(422, 'paid')),
  row('paid', { kind: 'refund', units: 'everything left' }, refundAnswer(201, 'refunded', { A: 2, B: 3 }, 3500)),

  // paid, partially refunded (1 of A back): as paid, but only the unrefunded units move.
  ...successRows('paid, partially refunded', (_, via) =>
    via === 'older'
      ? { enough: ignored('paid, partially refunded'), too_few: ignored('paid, partially refunded') }
      : { enough: paid({}, via === 'sync' ? 'now' : 'event'), too_few: paid({}, via === 'sync' ? 'now' : 'event') },
  ),
  row('paid, partially refunded', FAILED_SYNC, failed({ A: 1, B: 3 }, 'now')),
  row('paid, partially refunded', failedWebhook('older'), ignored('paid, partially refunded')),
  row('paid, partially refunded', failedWebhook('same_second'), ignored('paid, partially refunded')),
  row('paid, partially refunded', failedWebhook('newer', 'succeeded'), keptPaid('paid, partially refunded')),
  row('paid, partially refunded', failedWebhook('newer', 'processing'), keptPaid('paid, partially refunded')),
  row(
    'paid, partially refunded',
    failedWebhook('newer', 'requires_payment_method'),
    failed({ A: 1, B: 3 }, 'event', { stripeAsked: true }),
  ),
  row('paid, partially refunded', { kind: 'refund', units: { A: 1 } }, refundAnswer(201, 'paid', { A: 1 }, 1000)),
  row('paid, partially refunded', { kind: 'refund', units: { A: 2 } }, refundAnswer(422, 'paid, partially refunded')),
  row(
    'paid, partially refunded',
    { kind: 'refund', units: 'everything left' },
    refundAnswer(201, 'refunded', { A: 1, B: 3 }, 2500),
  ),

  // failed(payment_declined) at T0: a success not older than the decline wins (a same-second tie
  // goes to succeeded) and takes the stock, or fails out of stock and refunds.
  ...successRows('failed(payment_declined)', (order, via) =>
    via === 'older'
      ? { enough: ignored('failed(payment_declined)'), too_few: ignored('failed(payment_declined)') }
      : entersPaid(order, via),
  ),
  row('failed(payment_declined)', FAILED_SYNC, failed({}, 'now')),
  row('failed(payment_declined)', failedWebhook('older'), ignored('failed(payment_declined)')),
  row('failed(payment_declined)', failedWebhook('same_second'), ignored('failed(payment_declined)')),
  row('failed(payment_declined)', failedWebhook('newer'), failed({}, 'event')),
  row(
    'failed(payment_declined)',
    { kind: 'refund', units: 'everything left' },
    refundAnswer(409, 'failed(payment_declined)'),
  ),

  // failed(insufficient_inventory): our own refusal, and the customer was told the stock was not
  // there (409). A payment that did succeed for it after all (an earlier attempt's charge) never
  // makes it paid later: whatever the event's age and the stock, it fails out_of_stock_after_payment
  // (naming the product it was refused for) and the money is refunded in full, once.
  ...successRows('failed(insufficient_inventory)', (order, via) => {
    const refused = {
      ...outOfStock(order, via === 'sync' ? 'now' : via === 'older' ? 'before' : 'event'),
      failureProduct: 'A' as const,
    };
    return { enough: refused, too_few: refused };
  }),
  row('failed(insufficient_inventory)', FAILED_SYNC, failed({}, 'now')),
  row('failed(insufficient_inventory)', failedWebhook('older'), ignored('failed(insufficient_inventory)')),
  row('failed(insufficient_inventory)', failedWebhook('same_second'), ignored('failed(insufficient_inventory)')),
  row('failed(insufficient_inventory)', failedWebhook('newer'), failed({}, 'event')),
  row(
    'failed(insufficient_inventory)',
    { kind: 'refund', units: 'everything left' },
    refundAnswer(409, 'failed(insufficient_inventory)'),
  ),

  // failed(out_of_stock_after_payment): final; its refund already went to Stripe, once. Nothing moves it.
  ...successRows('failed(out_of_stock_after_payment)', () => ({
    enough: ignored('failed(out_of_stock_after_payment)'),
    too_few: ignored('failed(out_of_stock_after_payment)'),
  })),
  row('failed(out_of_stock_after_payment)', FAILED_SYNC, ignored('failed(out_of_stock_after_payment)')),
  ...WHENS.map((when) =>
    row('failed(out_of_stock_after_payment)', failedWebhook(when), ignored('failed(out_of_stock_after_payment)')),
  ),
  row(
    'failed(out_of_stock_after_payment)',
    { kind: 'refund', units: 'everything left' },
    refundAnswer(409, 'failed(out_of_stock_after_payment)'),
  ),

  // refunded: past the payment states. Nothing moves it, no stock moves, nothing more is refunded.
  ...successRows('refunded', () => ({ enough: ignored('refunded'), too_few: ignored('refunded') })),
  row('refunded', FAILED_SYNC, ignored('refunded')),
  ...WHENS.map((when) => row('refunded', failedWebhook(when), ignored('refunded'))),
  row('refunded', failedWebhook('newer', 'requires_payment_method'), ignored('refunded')),
  row('refunded', { kind: 'refund', units: 'everything left' }, refundAnswer(409, 'refunded')),
  row('refunded', { kind: 'refund', units: { A: 1 } }, refundAnswer(409, 'refunded')),
];

// ── names ───────────────────────────────────────────────────────────────────────────────────────

export function eventName(e: PaymentEvent): string {
  switch (e.kind) {
    case 'succeeded':
      return e.via === 'sync'
        ? 'payment succeeded (synchronous answer)'
        : `payment_intent.succeeded (${e.when.replace('_', '-')})`;
    case 'failed':
      return e.via === 'sync'
        ? 'payment declined (synchronous answer)'
        : `payment_intent.payment_failed (${e.when.replace('_', '-')}${e.stripeSays ? `, Stripe says ${e.stripeSays}` : ''})`;
    case 'refund':
      return e.units === 'everything left'
        ? 'refund of everything left'
        : `refund of ${Object.entries(e.units)
            .map(([p, n]) => `${n} ${p}`)
            .join(', ')}`;
  }
}

function outcomeName(o: Outcome): string {
  if (o.answer && o.answer !== 201) return `${o.answer}, nothing changes`;
  if (!o.applies) return o.stripeAsked ? 'stays paid, nothing moves' : 'ignored, nothing changes';
  const moved = Object.entries(o.stockDelta)
    .filter(([, n]) => n !== 0)
    .map(([p, n]) => `${p} ${n > 0 ? '+' : ''}${n}`);
  const parts = [o.failureCode ? `failed(${o.failureCode})` : o.status];
  parts.push(moved.length > 0 ? `stock ${moved.join(' ')}` : 'no stock moves');
  if (o.stripeRefund) parts.push(`refund ${o.stripeRefund.amountCents}`);
  return parts.join(', ');
}

/** A readable test name: "<order before> + <event>, <stock> stock -> <outcome>". */
export function rowName(r: Row): string {
  const effective = { ...r.expected, ...r.codeToday?.outcome };
  const order = r.order === 'one_line' ? ', one line' : '';
  const stockLevel = r.event.kind === 'succeeded' ? `, ${r.stock === 'enough' ? 'enough' : 'too little'} stock` : '';
  const finding = r.codeToday ? ` [code differs from the rule: ${r.codeToday.finding.slice(0, 2)}]` : '';
  return `${r.before}${order} + ${eventName(r.event)}${stockLevel} -> ${outcomeName(effective)}${finding}`;
}
