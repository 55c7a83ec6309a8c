import type { Request } from '@middy/core';
import { createError } from '@middy/util';
import { InsufficientInventoryError } from '../../lib/errors';
import { type HttpResponse, httpErrors, json, requestLog } from '../../lib/http';
import type { LogFields, Logger } from '../../lib/log';

/**
 * Written for mutation testing (MUTATION.md): the one log line every request writes (what an
 * operator searches for a request, an order or an error code) and the error mapping at its 5xx edge.
 */
function memoryLogger() {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const logger: Logger = {
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    child: () => logger,
  };
  return { logger, lines };
}

const orderId = '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10';

/** What the request log writes for a request that ended with `response`. */
async function logged(
  response: HttpResponse | undefined,
  event: Record<string, unknown> = { routeKey: 'POST /orders' },
  phase: 'after' | 'onError' = 'after',
) {
  const { logger, lines } = memoryLogger();
  const request = {
    event,
    context: { awsRequestId: 'req-1' },
    response,
    error: null,
    internal: {},
  } as unknown as Request;
  await requestLog(() => logger)[phase]?.(request as never);
  return lines;
}

describe('requestLog (one line per request: route, status, order, error code; never the body)', () => {
  test('a new order: request id, route, status, order id and status; not marked replayed', async () => {
    const lines = await logged(json(201, { order: { id: orderId, status: 'paid', amountCents: 2598 } }));

    expect(lines).toEqual([
      {
        level: 'info',
        message: 'request',
        fields: {
          requestId: 'req-1',
          route: 'POST /orders',
          statusCode: 201,
          orderId,
          orderStatus: 'paid',
          errorCode: undefined,
          replayed: undefined,
        },
      },
    ]);
  });

  test('a replayed answer (Idempotent-Replayed: true) is marked replayed', async () => {
    const lines = await logged(
      json(201, { order: { id: orderId, status: 'paid' } }, { 'Idempotent-Replayed': 'true' }),
    );

    expect(lines[0]?.fields).toMatchObject({ statusCode: 201, replayed: true });
  });

  test("a refund: the order id from the refund's body", async () => {
    const lines = await logged(json(201, { refund: { id: 'refund-1', orderId } }), {
      routeKey: 'POST /orders/{orderId}/refunds',
      pathParameters: { orderId },
    });

    expect(lines[0]?.fields).toMatchObject({ route: 'POST /orders/{orderId}/refunds', orderId });
  });

  test("a refused request (the error path): its error code, and the order id from the error's body", async () => {
    const refusal = new InsufficientInventoryError(orderId, 'sku-a');
    const lines = await logged(
      json(409, { error: { code: refusal.code, message: refusal.message, ...refusal.details } }),
      { routeKey: 'POST /orders' },
      'onError',
    );

    expect(lines[0]).toMatchObject({
      message: 'request',
      fields: { statusCode: 409, errorCode: 'insufficient_inventory', orderId },
    });
  });

  test('a lookup of an order that does not exist: the order id from the path', async () => {
    const lines = await logged(json(404, { error: { code: 'order_not_found', message: 'no order' } }), {
      routeKey: 'GET /orders/{orderId}',
      pathParameters: { orderId },
    });

    expect(lines[0]?.fields).toMatchObject({ statusCode: 404, errorCode: 'order_not_found', orderId });
  });
});

describe('httpErrors at the 5xx edge', () => {
  test('a middy HTTP error of 500 marked as exposable is still a masked 500, never a client error', async () => {
    const { logger, lines } = memoryLogger();
    const request = {
      event: {},
      context: { awsRequestId: 'req-1' },
      response: undefined,
      error: createError(500, 'upstream detail', { expose: true }),
      internal: {},
    } as unknown as Request;

    await httpErrors(() => logger).onError?.(request);

    const response = request.response as HttpResponse;
    expect(response.statusCode).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect(lines).toEqual([expect.objectContaining({ level: 'error', message: 'unhandled error' })]);
  });
});
