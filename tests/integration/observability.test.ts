// First: Powertools as it runs in Lambda, before any handler module makes its Powertools objects.
import '../helpers/powertools-on';
import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { createOrderHandler } from '../../handlers/create-order';
import { stripeWebhookHandler } from '../../handlers/stripe-webhook';
import type { Deps } from '../../lib/deps';
import {
  loggerOver,
  metricsOver,
  powertoolsLogger,
  powertoolsMetrics,
  powertoolsTracer,
  tracedDb,
  tracedRedis,
} from '../../lib/observability';
import { timedPayments } from '../../lib/payments/timed';
import { givenProduct } from '../helpers/builders';
import { apiGatewayEvent, invoke } from '../helpers/events';
import { testDeps } from '../helpers/harness';
import { orderBody, stripeAnswers } from '../helpers/orders';
import { OLD_WEBHOOK_SECRET, paymentEvent, sign, WEBHOOK_SECRET } from '../helpers/webhooks';

/**
 * What the service writes about itself, captured as CloudWatch and X-Ray would receive it: the log
 * lines (Powertools Logger), the metrics (EMF lines on stdout), the trace subsegments (UDP documents
 * to the X-Ray daemon). What is listed must be there; bodies, card data and secrets never are.
 */
let written: string[] = [];
let daemon: Socket;
let segments: Record<string, unknown>[] = [];

beforeAll(async () => {
  daemon = createSocket('udp4');
  daemon.on('message', (message) => {
    // "{"format": "json", "version": 1}\n{segment document}"
    const document = message.toString('utf8').split('\n')[1];
    if (document) segments.push(JSON.parse(document));
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  powertoolsTracer()?.provider.setDaemonAddress(`127.0.0.1:${(daemon.address() as AddressInfo).port}`);
});

afterAll(() => daemon.close());

beforeEach(() => {
  written = [];
  segments = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
});

afterEach(() => jest.restoreAllMocks());

/** The service's dependencies as a Lambda container wires them: Powertools behind each port. */
function observedDeps(): Deps {
  const deps = testDeps();
  const metrics = metricsOver(powertoolsMetrics());
  return {
    ...deps,
    db: tracedDb(deps.db),
    redis: tracedRedis(deps.redis),
    log: loggerOver(powertoolsLogger()),
    metrics,
    payments: timedPayments(deps.payments, metrics),
  };
}

const lines = () =>
  written
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Each EMF document's metric names and values. */
const emitted = () =>
  lines()
    .filter((l) => l._aws)
    .map((l) => {
      const names = (
        (l._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0]?.Metrics ?? []
      ).map((m) => m.Name);
      return Object.fromEntries(names.map((n) => [n, l[n]]));
    });

/** A Lambda invocation's trace header, as the runtime sets it for each request. */
function traced(): void {
  const traceId = `1-${Math.floor(Date.now() / 1000).toString(16)}-${'a1b2c3d4e5f6a1b2c3d4e5f6'}`;
  process.env._X_AMZN_TRACE_ID = `Root=${traceId};Parent=53995c3f42cd8ad8;Sampled=1`;
  process.env._HANDLER = 'handlers/create-order.handler';
}

test('a paid order: one request line with the route, status, order id, request id and cold start; EMF metrics; PostgreSQL, Redis and Stripe subsegments; no body, no card, no secret', async () => {
  const product = await givenProduct({ stock: 5, priceCents: 1250 });
  stripeAnswers('succeeded');
  traced();
  const deps = observedDeps();

  const response = await invoke(
    createOrderHandler(() => deps),
    apiGatewayEvent({
      method: 'POST',
      path: '/orders',
      headers: { 'idempotency-key': 'observed-order-1' },
      body: orderBody([{ productId: product.id, quantity: 2 }], 'pm_card_visa'),
    }),
  );

  expect(response.statusCode).toBe(201);
  const orderId = response.body.order.id;
  const request = lines().find((l) => l.message === 'request');
  expect(request).toMatchObject({
    level: 'INFO',
    service: 'order-service',
    cold_start: expect.any(Boolean),
    function_name: 'test',
    function_request_id: expect.any(String),
    route: 'POST /orders',
    statusCode: 201,
    orderId,
    orderStatus: 'paid',
  });
  expect(emitted()).toContainEqual(
    expect.objectContaining({ OrdersPlaced: 1, OrdersPaid: 1, StripeLatency: expect.any(Number) }),
  );
  await new Promise((r) => setTimeout(r, 100)); // the UDP documents
  const names = segments.map((s) => s.name);
  expect(names).toEqual(
    expect.arrayContaining(['## handlers/create-order.handler', 'Stripe charge', 'PostgreSQL', 'Redis evalsha']),
  );
  const all = written.join('') + JSON.stringify(segments);
  expect(all).not.toContain('pm_card_visa');
  expect(all).not.toContain('observed-order-1');
  expect(all).not.toContain('sk_test');
});

test('a webhook: its delay from event.created and what it did as metrics; never its body or signature in the logs', async () => {
  const product = await givenProduct({ stock: 5, priceCents: 1000 });
  stripeAnswers('processing');
  const deps = observedDeps();
  const placed = await invoke(
    createOrderHandler(() => deps),
    apiGatewayEvent({
      method: 'POST',
      path: '/orders',
      headers: { 'idempotency-key': 'observed-order-2' },
      body: orderBody([{ productId: product.id, quantity: 1 }]),
    }),
  );
  expect(placed.statusCode).toBe(202);
  written = [];
  const { payload } = paymentEvent('payment_intent.succeeded', placed.body.order, {
    created: Math.floor(Date.now() / 1000) - 30,
  });
  const signature = sign(payload);

  const response = await invoke(
    stripeWebhookHandler(
      () => deps,
      () => [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET],
    ),
    apiGatewayEvent({
      method: 'POST',
      path: '/webhooks/stripe',
      headers: { 'stripe-signature': signature },
      rawBody: payload,
    }),
  );

  expect(response.statusCode).toBe(200);
  expect(lines().find((l) => l.message === 'stripe event')).toMatchObject({
    eventType: 'payment_intent.succeeded',
    result: 'paid',
  });
  const metrics = emitted().find((m) => 'WebhookDelay' in m);
  expect(metrics).toMatchObject({ OrdersPaid: 1 });
  expect(metrics?.WebhookDelay).toBeGreaterThanOrEqual(30);
  const firstOutput = written.join('');
  // Stripe sends another success event for the paid order (a new event id): not counted again.
  written = [];
  const again = paymentEvent('payment_intent.succeeded', placed.body.order, { created: Math.floor(Date.now() / 1000) });
  const second = await invoke(
    stripeWebhookHandler(
      () => deps,
      () => [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET],
    ),
    apiGatewayEvent({
      method: 'POST',
      path: '/webhooks/stripe',
      headers: { 'stripe-signature': sign(again.payload) },
      rawBody: again.payload,
    }),
  );
  expect(second.statusCode).toBe(200);
  expect(lines().find((l) => l.message === 'stripe event')).toMatchObject({ result: 'already_paid' });
  expect(emitted().filter((m) => 'OrdersPaid' in m)).toEqual([]);

  const all = firstOutput + written.join('');
  expect(all).not.toContain(signature);
  expect(all).not.toContain('"object": "payment_intent"');
  expect(all).not.toContain(WEBHOOK_SECRET);
});
