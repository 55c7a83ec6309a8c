import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CoreDeps, coreDeps } from '../lib/deps';
import { bodyLimit, httpErrors, idempotentJson, jsonBody, requestLog } from '../lib/http';
import { adjustmentRequestSchema, adjustStock } from '../lib/inventory/stock-adjustments';
import { observed } from '../lib/observability';
import { idempotencyKeyFrom, parseOrThrow } from '../lib/validation';

/** POST /products/{productId}/stock/adjustments (operator route: IAM-authorized in serverless.yml). */
export function adjustStockHandler(deps: () => Pick<CoreDeps, 'db' | 'redis' | 'config' | 'log'>) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use(jsonBody())
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const key = idempotencyKeyFrom(event.headers, false);
      const request = parseOrThrow(adjustmentRequestSchema, event.body);
      const result = await adjustStock(deps(), event.pathParameters?.productId ?? '', request, key);
      return idempotentJson(result);
    });
}

export const handler = adjustStockHandler(coreDeps);
