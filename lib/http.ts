import type { MiddlewareObj, Request } from '@middy/core';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { isConnectionError } from './db';
import {
  DomainError,
  errorBody,
  InternalError,
  PayloadTooLargeError,
  PaymentProviderUnavailableError,
  ServiceUnavailableError,
} from './errors';
import type { IdempotentResult } from './idempotency/port';
import { errorFields, type Logger } from './log';
import type { AppMetrics, MetricName } from './observability';
import { PaymentProviderError } from './payments/payments';
import { isRedisUnavailable } from './redis';

export type HttpResponse = APIGatewayProxyResult & { headers: Record<string, string> };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/**
 * Largest body accepted, in bytes as received (base64 included). An order of 100 items is about
 * 10 KB; 64 KB leaves room and keeps a hostile client from making us parse megabytes.
 */
export const MAX_BODY_BYTES = 64 * 1024;

interface MiddyHttpError {
  statusCode?: number;
  expose?: boolean;
}

/** 413 before anything parses a body that is too large. */
export function bodyLimit(maxBytes = MAX_BODY_BYTES): MiddlewareObj<{ body?: string | null }> {
  return {
    before: async (request) => {
      const body = request.event.body;
      if (typeof body === 'string' && Buffer.byteLength(body) > maxBytes) throw new PayloadTooLargeError(maxBytes);
    },
  };
}

/**
 * Last in every chain: domain errors become their status and body; a middy HTTP error (malformed
 * JSON from the body parser) becomes 400 invalid_request; an unreachable database or Redis is 503;
 * anything else is a masked 500, logged.
 */
export function httpErrors(log: () => Logger): MiddlewareObj {
  return {
    onError: async (request) => {
      const error = request.error;
      if (error instanceof DomainError) {
        request.response = json(error.status, errorBody(error), error.headers);
        return;
      }
      const httpError = error as MiddyHttpError | null;
      if (httpError?.expose && httpError.statusCode && httpError.statusCode < 500) {
        request.response = json(400, {
          error: { code: 'invalid_request', message: 'the body is not valid JSON', field: 'body' },
        });
        return;
      }
      log().error('unhandled error', { requestId: request.context?.awsRequestId, ...errorFields(error) });
      if (error instanceof PaymentProviderError) {
        // A use case that could not reach Stripe left its recovery point (a pending order or refund):
        // the retry, or Stripe's redelivery of an event, resumes it.
        const unavailable = new PaymentProviderUnavailableError();
        request.response = json(unavailable.status, errorBody(unavailable), unavailable.headers);
        return;
      }
      const answer =
        isConnectionError(error) || isRedisUnavailable(error) ? new ServiceUnavailableError() : new InternalError();
      request.response = json(answer.status, errorBody(answer), answer.headers);
    },
  };
}

interface LoggedEvent {
  routeKey?: string;
  httpMethod?: string;
  resource?: string;
  pathParameters?: Record<string, string | undefined> | null;
}

/** What a finished request's log line says: route, status, order id, error code. Never the body. */
function outcomeFields(request: Request<LoggedEvent>): Record<string, unknown> {
  const response = request.response as HttpResponse | undefined;
  let body: {
    order?: { id?: string; status?: string };
    refund?: { orderId?: string };
    error?: { code?: string; orderId?: string };
  } = {};
  try {
    body = typeof response?.body === 'string' ? JSON.parse(response.body) : {};
  } catch {
    body = {};
  }
  const event = request.event;
  return {
    requestId: request.context?.awsRequestId,
    route: event.routeKey ?? `${event.httpMethod ?? ''} ${event.resource ?? ''}`.trim(),
    statusCode: response?.statusCode,
    orderId: body.order?.id ?? body.refund?.orderId ?? body.error?.orderId ?? event.pathParameters?.orderId,
    orderStatus: body.order?.status,
    errorCode: body.error?.code,
    replayed: response?.headers?.['Idempotent-Replayed'] === 'true' || undefined,
  };
}

/** First in every chain, so it sees the final response of both paths. */
export function requestLog(log: () => Logger): MiddlewareObj<LoggedEvent> {
  // Returns nothing: a middy middleware that returns a value replaces the response with it.
  const done = async (request: Request<LoggedEvent>): Promise<void> => {
    log().info('request', outcomeFields(request));
  };
  return { after: done, onError: done };
}

/** What a finished request answered, as the metrics see it. */
export interface Answered {
  statusCode: number;
  /** error.code of an error answer. */
  code?: string;
}

/**
 * Counts each request's outcome as CloudWatch metrics (`count` says which), from the final response
 * of both paths, like requestLog; replays are not counted again.
 */
export function outcomeMetrics(
  metrics: () => AppMetrics | undefined,
  count: (answered: Answered) => readonly MetricName[],
): MiddlewareObj {
  const done = async (request: Request): Promise<void> => {
    const m = metrics();
    const response = request.response as HttpResponse | undefined;
    // The stored answer to an earlier request (Idempotent-Replayed) was counted the first time.
    if (!m || !response || response.headers?.['Idempotent-Replayed'] === 'true') return;
    // Only an error answer has a code: a success body is not parsed again.
    let code: string | undefined;
    if (response.statusCode >= 400) {
      try {
        code = typeof response.body === 'string' ? JSON.parse(response.body)?.error?.code : undefined;
      } catch {
        code = undefined;
      }
    }
    for (const name of count({ statusCode: response.statusCode, code })) m.count(name);
  };
  return { after: done, onError: done };
}

/**
 * For routes whose body is optional (a full refund, a cancel): no body is `{}`, so
 * `curl -X POST .../refunds` refunds everything and `.../cancel` cancels.
 */
export function emptyBodyIsEmptyObject(): MiddlewareObj<{ body?: string | null; isBase64Encoded?: boolean }> {
  return {
    before: async (request) => {
      if (request.event.body === undefined || request.event.body === null || request.event.body === '') {
        request.event.body = '{}';
        request.event.isBase64Encoded = false;
      }
    },
  };
}

/** A use case's idempotent result as the HTTP answer, marked `Idempotent-Replayed` when it is the stored one. */
export function idempotentJson(result: IdempotentResult): HttpResponse {
  return json(result.statusCode, result.body, result.replayed ? { 'Idempotent-Replayed': 'true' } : {});
}

/**
 * The JSON body parser whatever the Content-Type says (a bare `curl -d` sends form encoding); the
 * option exists at run time in middy 6 but is missing from its type definitions.
 */
export function jsonBody(): MiddlewareObj {
  return httpJsonBodyParser({ disableContentTypeCheck: true } as Parameters<
    typeof httpJsonBodyParser
  >[0]) as MiddlewareObj;
}
