import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import { bodyLimit, httpErrors, json, requestLog } from '../lib/http';
import { createOrder } from '../lib/orders/create-order';
import { createOrderRequestSchema } from '../lib/orders/create-order-request';
import { idempotencyKeyFrom, parseOrThrow } from '../lib/validation';

/** POST /orders */
export function createOrderHandler(deps: () => Deps) {
  return (
    middy<APIGatewayProxyEventV2, unknown, Error, Context>()
      .use(requestLog(() => deps().log))
      .use(httpHeaderNormalizer())
      .use(bodyLimit())
      // Parse JSON whatever the Content-Type says (a bare `curl -d` sends form encoding); the option
      // exists at run time in middy 6 but is missing from its type definitions.
      .use(httpJsonBodyParser({ disableContentTypeCheck: true } as Parameters<typeof httpJsonBodyParser>[0]))
      .use(httpErrors(() => deps().log))
      .handler(async (event) => {
        const key = idempotencyKeyFrom(event.headers, true) as string;
        const request = parseOrThrow(createOrderRequestSchema, event.body);
        const result = await createOrder(deps(), key, request);
        return json(result.statusCode, result.body, result.replayed ? { 'Idempotent-Replayed': 'true' } : {});
      })
  );
}

export const handler = createOrderHandler(defaultDeps);
