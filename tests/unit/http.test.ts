import type { Request } from '@middy/core';
import { createError } from '@middy/util';
import {
  type DomainError,
  IdempotencyInProgressError,
  InsufficientInventoryError,
  InvalidRequestError,
  PaymentProviderUnavailableError,
  RefundQuantityExceededError,
} from '../../lib/errors';
import { bodyLimit, type HttpResponse, httpErrors, MAX_BODY_BYTES } from '../../lib/http';
import type { LogFields, Logger } from '../../lib/log';
import { PaymentProviderError } from '../../lib/payments/payments';

/** A logger that keeps its lines. */
function memoryLogger() {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const logger: Logger = {
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    child: () => logger,
  };
  return { logger, lines };
}

/** Runs the error mapper on `error` as middy would after a failed handler; the response and the log. */
async function mapped(error: unknown) {
  const { logger, lines } = memoryLogger();
  const request = {
    event: {},
    context: { awsRequestId: 'req-1' },
    response: undefined,
    error,
    internal: {},
  } as unknown as Request;
  await httpErrors(() => logger).onError?.(request);
  const response = request.response as HttpResponse;
  return {
    statusCode: response.statusCode,
    headers: response.headers,
    body: JSON.parse(response.body) as { error: Record<string, unknown> },
    logged: lines,
  };
}

describe('httpErrors (the one error-to-HTTP mapping)', () => {
  test.each<[string, DomainError, number, Record<string, unknown>, Record<string, string>]>([
    [
      'invalid_request',
      new InvalidRequestError('quantity must be at least 1', { field: 'items[0].quantity' }),
      400,
      { field: 'items[0].quantity' },
      {},
    ],
    [
      'insufficient_inventory',
      new InsufficientInventoryError('o-1', 'sku-a'),
      409,
      { orderId: 'o-1', productId: 'sku-a' },
      {},
    ],
    [
      'refund_quantity_exceeded',
      new RefundQuantityExceededError('sku-a', 1),
      422,
      { productId: 'sku-a', refundable: 1 },
      {},
    ],
    ['idempotency_in_progress', new IdempotencyInProgressError(60), 409, {}, { 'Retry-After': '60' }],
    [
      'payment_provider_unavailable',
      new PaymentProviderUnavailableError({ orderId: 'o-1' }),
      503,
      { orderId: 'o-1' },
      { 'Retry-After': '2' },
    ],
  ])(
    'a DomainError (%s) is its status, { error: { code, message, ...details } } and its headers',
    async (code, error, status, details, headers) => {
      const response = await mapped(error);

      expect(response.statusCode).toBe(status);
      expect(response.headers).toEqual({ 'Content-Type': 'application/json', ...headers });
      expect(response.body).toEqual({ error: { code, message: error.message, ...details } });
      expect(response.logged).toEqual([]);
    },
  );

  test('a malformed JSON body (middy 415 from the body parser) is 400 invalid_request on the body', async () => {
    const response = await mapped(
      createError(415, 'Invalid or malformed JSON was provided', {
        cause: { package: '@middy/http-json-body-parser' },
      }),
    );

    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({
      error: { code: 'invalid_request', message: 'the body is not valid JSON', field: 'body' },
    });
  });

  test('PaymentProviderError (Stripe unreachable, 5xx) is 503 payment_provider_unavailable with Retry-After 2, and is logged', async () => {
    const response = await mapped(new PaymentProviderError('Stripe: An error occurred with our connection to Stripe.'));

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': 'application/json', 'Retry-After': '2' });
    expect(response.body).toEqual({
      error: {
        code: 'payment_provider_unavailable',
        message: 'the payment provider could not be reached; retry with the same Idempotency-Key',
      },
    });
    expect(response.logged).toEqual([
      {
        level: 'error',
        message: 'unhandled error',
        fields: expect.objectContaining({
          requestId: 'req-1',
          error: expect.objectContaining({ name: 'PaymentProviderError' }),
        }),
      },
    ]);
  });

  test.each([
    [
      'PostgreSQL refusing connections (ECONNREFUSED)',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    ],
    [
      'PostgreSQL shutting down (57P01)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    ['too many connections (53300)', Object.assign(new Error('sorry, too many clients already'), { code: '53300' })],
    ['a deadlock (40P01)', Object.assign(new Error('deadlock detected'), { code: '40P01' })],
    ['a connection lost mid-query (no code)', new Error('Connection terminated unexpectedly')],
    [
      'ioredis giving up on a command',
      Object.assign(new Error('Reached the max retries per request limit (which is 1).'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['ioredis on a closed connection', new Error('Connection is closed.')],
  ])('%s is 503 service_unavailable with Retry-After 1', async (_, error) => {
    const response = await mapped(error);

    expect(response.statusCode).toBe(503);
    expect(response.headers).toEqual({ 'Content-Type': 'application/json', 'Retry-After': '1' });
    expect(response.body).toEqual({
      error: { code: 'service_unavailable', message: 'a backing service is unavailable; retry' },
    });
  });

  test.each([
    [
      'an ordinary SQL error (23505) with table details',
      Object.assign(new Error('duplicate key value violates unique constraint "orders_pkey"'), {
        code: '23505',
        detail: 'Key (id)=(x) already exists.',
      }),
    ],
    ['a missing table (42P01)', Object.assign(new Error('relation "orders" does not exist'), { code: '42P01' })],
    ['a programming error', new TypeError("Cannot read properties of undefined (reading 'lines')")],
    ['a middy error not meant for clients (500)', createError(500, 'secret internals')],
    ['a thrown string', 'boom'],
  ])('%s is a masked 500: no message, code or detail of the error leaks; it is logged', async (_, error) => {
    const response = await mapped(error);

    expect(response.statusCode).toBe(500);
    expect(response.headers).toEqual({ 'Content-Type': 'application/json' });
    expect(response.body).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect(response.logged).toEqual([
      { level: 'error', message: 'unhandled error', fields: expect.objectContaining({ requestId: 'req-1' }) },
    ]);
  });
});

describe('bodyLimit', () => {
  const runBefore = (body: string | null) =>
    bodyLimit().before?.({ event: { body } } as unknown as Request<{ body?: string | null }>);

  test(`accepts a body of exactly ${MAX_BODY_BYTES} bytes, and none`, async () => {
    await expect(runBefore('x'.repeat(MAX_BODY_BYTES))).resolves.toBeUndefined();
    await expect(runBefore(null)).resolves.toBeUndefined();
  });

  test('refuses one byte more with 413 payload_too_large, counting bytes, not characters', async () => {
    await expect(runBefore('x'.repeat(MAX_BODY_BYTES + 1))).rejects.toMatchObject({
      code: 'payload_too_large',
      status: 413,
      details: { limitBytes: MAX_BODY_BYTES },
    });
    // 2 bytes each in UTF-8: half as many characters already reach the limit.
    await expect(runBefore('é'.repeat(MAX_BODY_BYTES / 2 + 1))).rejects.toMatchObject({ code: 'payload_too_large' });
  });
});
