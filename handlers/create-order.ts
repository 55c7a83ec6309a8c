import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import {
  type Answered,
  bodyLimit,
  httpErrors,
  idempotentJson,
  jsonBody,
  outcomeMetrics,
  requestLog,
} from '../lib/http';
import type { MetricName } from '../lib/observability';
import { observed } from '../lib/observability';
import { createOrder } from '../lib/orders/create-order';
import { createOrderRequestSchema } from '../lib/orders/create-order-request';
import { idempotencyKeyFrom, parseOrThrow } from '../lib/validation';

/** POST /orders */
export function createOrderHandler(deps: () => Deps) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(outcomeMetrics(() => deps().metrics, placed))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use(jsonBody())
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const key = idempotencyKeyFrom(event.headers, true) as string;
      const request = parseOrThrow(createOrderRequestSchema, event.body);
      const result = await createOrder(deps(), key, request);
      return idempotentJson(result);
    });
}

/** A new order's outcome (a replay is not counted again; a refusal before an order exists is not an order). */
function placed({ statusCode, code }: Answered): readonly MetricName[] {
  if (statusCode === 201) return ['OrdersPlaced', 'OrdersPaid'];
  if (statusCode === 202) return ['OrdersPlaced', 'OrdersPending'];
  if (statusCode === 402) return ['OrdersPlaced', 'OrdersDeclined'];
  if (statusCode === 409 && code === 'insufficient_inventory') return ['OrdersPlaced', 'OrdersOutOfStock'];
  return [];
}

// No publishing here: it would add a round trip (and an EventBridge call) to every order's answer.
// The order.paid row goes out with the next webhook's request (Stripe's payment_intent.succeeded for
// this very order follows within seconds) or the scheduled publishEvents, whichever comes first.
export const handler = createOrderHandler(defaultDeps);
