import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { createOrderHandler } from '../../handlers/create-order';
import { getOrderHandler } from '../../handlers/get-order';
import { refundHandler } from '../../handlers/refund';
import { stripeWebhookHandler } from '../../handlers/stripe-webhook';
import { MAX_BODY_BYTES } from '../../lib/http';
import { countRows } from '../helpers/builders';
import { apiGatewayEvent, invoke, type Response } from '../helpers/events';
import { redis, testDeps } from '../helpers/harness';
import { mockPaymentIntentsCreate, mockRefundsCreate } from '../helpers/stripe-mock';
import { sign, WEBHOOK_SECRET } from '../helpers/webhooks';

/**
 * Property-based: at least 1,000 generated hostile requests per route. Whatever comes in, the answer
 * is never a 5xx, always one of the contract's error codes for its status, and a rejected request
 * writes nothing to PostgreSQL or Redis and never reaches Stripe. The catalogue is empty, so even a
 * well-formed order is rejected (unknown_product).
 */
const RUNS = 1_000;

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom(
    "'; DROP TABLE orders; --",
    "1' OR '1'='1",
    '${jndi:ldap://x}',
    '\u0000',
    '\ud83d\ude00'.repeat(50),
    'sku_1\n',
    ' ',
    '',
    '0',
    '-1',
    'null',
    'NaN',
  ),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER, 10_001, 2 ** 31),
  fc.constant(Number.NaN).map(() => 'NaN'),
);
const hostileValue = fc.oneof(
  hostileString,
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.anything(), { maxLength: 3 }),
  fc.object({ maxDepth: 2 }),
);
const line = fc.record(
  {
    productId: fc.oneof(hostileString, hostileValue, fc.constant('sku_1')),
    quantity: fc.oneof(
      hostileNumber,
      hostileValue,
      fc.integer({ min: 1, max: 10_000 }).map(String),
      fc.integer({ min: 1, max: 5 }),
    ),
    extra: hostileValue,
  },
  { requiredKeys: [] },
);
const items = fc.oneof(
  fc.array(line, { maxLength: 5 }),
  fc.array(fc.constant({ productId: 'sku_dup', quantity: 1 }), { minLength: 2, maxLength: 3 }),
  fc.array(fc.record({ productId: fc.constant('sku_1'), quantity: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 101,
    maxLength: 102,
  }),
  hostileValue,
);
const orderLike = fc.record(
  {
    customerId: fc.oneof(hostileString, hostileValue),
    paymentMethodId: fc.oneof(hostileString, hostileValue, fc.constant('pm_card_visa')),
    items,
    amountCents: hostileNumber,
  },
  { requiredKeys: [] },
);
/** A well-formed order with one field broken (or none: the catalogue is empty, so it is still refused). */
const validLine = fc.record({
  productId: fc.stringMatching(/^sku_[a-z0-9]{1,8}$/),
  quantity: fc.integer({ min: 1, max: 10_000 }),
});
const nearlyValid = fc
  .record({
    order: fc.record({
      customerId: fc.stringMatching(/^cus_[a-zA-Z0-9]{1,12}$/),
      paymentMethodId: fc.constantFrom('pm_card_visa', 'pm_card_chargeDeclined'),
      items: fc.uniqueArray(validLine, { minLength: 1, maxLength: 5, selector: (l) => l.productId }),
    }),
    path: fc.constantFrom(
      'none',
      'customerId',
      'paymentMethodId',
      'items',
      'quantity',
      'productId',
      'extra',
      'duplicate',
    ),
    value: hostileValue,
  })
  .map(({ order, path, value }) => {
    const o: Record<string, unknown> = { ...order, items: order.items.map((l) => ({ ...l })) };
    const first = (o.items as Record<string, unknown>[])[0] as Record<string, unknown>;
    if (path === 'customerId' || path === 'paymentMethodId' || path === 'items') o[path] = value;
    if (path === 'quantity' || path === 'productId') first[path] = value;
    if (path === 'extra') o.unexpected = value;
    if (path === 'duplicate') (o.items as unknown[]).push({ ...first });
    return JSON.stringify(o);
  });
const deepJson = fc.integer({ min: 100, max: 20_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`);
const rawBody = fc.oneof(
  { weight: 6, arbitrary: nearlyValid },
  { weight: 4, arbitrary: orderLike.map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string() },
  { weight: 1, arbitrary: deepJson },
  { weight: 1, arbitrary: fc.constant(`{"customerId":"${'x'.repeat(MAX_BODY_BYTES)}"}`) },
  { weight: 1, arbitrary: fc.constant('x'.repeat(1024 * 1024)) },
);
const request = fc.record({
  body: fc.option(rawBody, { nil: undefined }),
  base64: fc.constantFrom<'no' | 'yes' | 'garbage'>('no', 'no', 'no', 'no', 'no', 'yes', 'garbage'),
  contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
  key: fc.oneof(
    { weight: 8, arbitrary: fc.uuid() },
    hostileString,
    fc.constant(undefined),
    fc.constant('k'.repeat(300)),
  ),
});

function event(o: {
  method: string;
  path: string;
  body?: string;
  base64: 'no' | 'yes' | 'garbage';
  contentType: string;
  headers?: Record<string, string | undefined>;
}) {
  const body =
    o.body === undefined
      ? undefined
      : o.base64 === 'yes'
        ? Buffer.from(o.body).toString('base64')
        : o.base64 === 'garbage'
          ? `%%${o.body}!!`
          : o.body;
  const e = apiGatewayEvent({ method: o.method, path: o.path, rawBody: body, isBase64Encoded: o.base64 !== 'no' });
  e.headers = { 'content-type': o.contentType };
  for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) e.headers[k] = v;
  return e;
}

const CONTRACT: Record<number, string[]> = {
  400: ['invalid_request', 'idempotency_key_required'],
  401: ['invalid_signature'],
  404: ['order_not_found'],
  413: ['payload_too_large'],
  422: [
    'unknown_product',
    'mixed_currency',
    'amount_too_large',
    'idempotency_key_mismatch',
    'refund_quantity_exceeded',
  ],
};

async function expectRejectedAndNothingWritten(response: Response): Promise<void> {
  expect(response.statusCode).toBeLessThan(500);
  expect(CONTRACT[response.statusCode]).toContain(response.body?.error?.code);
  expect(typeof response.body.error.message).toBe('string');
  expect(await countRows('orders')).toBe(0);
  expect(await countRows('refunds')).toBe(0);
  expect(await redis().dbsize()).toBe(0);
  expect(mockPaymentIntentsCreate).not.toHaveBeenCalled();
  expect(mockRefundsCreate).not.toHaveBeenCalled();
}

describe('hostile input never gets a 5xx and writes nothing', () => {
  test(`POST /orders: ${RUNS} generated requests`, async () => {
    const handler = createOrderHandler(() => testDeps());
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const response = await invoke(
          handler,
          event({ method: 'POST', path: '/orders', ...r, headers: { 'idempotency-key': r.key } }),
        );
        await expectRejectedAndNothingWritten(response);
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  test(`POST /orders/{orderId}/refunds: ${RUNS} generated requests`, async () => {
    const handler = refundHandler(() => testDeps());
    const orderId = fc.oneof(fc.uuid(), hostileString);
    await fc.assert(
      fc.asyncProperty(request, orderId, async (r, id) => {
        const e = event({ method: 'POST', path: `/orders/${id}/refunds`, ...r, headers: { 'idempotency-key': r.key } });
        e.pathParameters = { orderId: id };
        await expectRejectedAndNothingWritten(await invoke(handler, e));
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  test(`POST /webhooks/stripe: ${RUNS} generated requests, forged or signed but not an event`, async () => {
    const handler = stripeWebhookHandler(
      () => testDeps(),
      () => [WEBHOOK_SECRET],
    );
    const signature = fc.oneof(
      hostileString,
      fc.constant(undefined),
      fc.constant('t=1,v1=deadbeef'),
      fc.constant('sign'),
    );
    const notAnEvent = fc.oneof(
      fc.string(),
      fc.json().filter((j) => !/"created"/.test(j)),
      deepJson,
    );
    await fc.assert(
      fc.asyncProperty(request, signature, notAnEvent, async (r, sig, signedBody) => {
        const body = sig === 'sign' ? signedBody : r.body;
        const header = sig === 'sign' ? sign(signedBody) : sig;
        const response = await invoke(
          handler,
          event({
            method: 'POST',
            path: '/webhooks/stripe',
            ...r,
            base64: sig === 'sign' ? 'no' : r.base64,
            body,
            headers: { 'stripe-signature': header },
          }),
        );
        await expectRejectedAndNothingWritten(response);
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  test(`GET /orders/{orderId}: ${RUNS} generated ids`, async () => {
    const handler = getOrderHandler(() => testDeps());
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uuid(), hostileString, fc.constant(randomUUID())), async (id) => {
        const e = apiGatewayEvent({
          method: 'GET',
          path: `/orders/${encodeURIComponent(id)}`,
          pathParameters: { orderId: id },
        });
        await expectRejectedAndNothingWritten(await invoke(handler, e));
      }),
      { numRuns: RUNS },
    );
  }, 120_000);

  test('a body over the stated limit (64 KB) gets 413 on every route that takes one', async () => {
    const big = JSON.stringify({ customerId: 'x'.repeat(MAX_BODY_BYTES) });
    const routes = [
      invoke(
        createOrderHandler(() => testDeps()),
        event({
          method: 'POST',
          path: '/orders',
          body: big,
          base64: 'no',
          contentType: 'application/json',
          headers: { 'idempotency-key': 'k' },
        }),
      ),
      invoke(
        refundHandler(() => testDeps()),
        Object.assign(
          event({
            method: 'POST',
            path: '/orders/x/refunds',
            body: big,
            base64: 'no',
            contentType: 'application/json',
          }),
          { pathParameters: { orderId: randomUUID() } },
        ),
      ),
      invoke(
        stripeWebhookHandler(
          () => testDeps(),
          () => [WEBHOOK_SECRET],
        ),
        event({
          method: 'POST',
          path: '/webhooks/stripe',
          body: big,
          base64: 'no',
          contentType: 'application/json',
          headers: { 'stripe-signature': sign(big) },
        }),
      ),
    ];

    for (const response of await Promise.all(routes)) {
      expect(response.statusCode).toBe(413);
      expect(response.body.error).toMatchObject({ code: 'payload_too_large', limitBytes: MAX_BODY_BYTES });
    }
  });
});
