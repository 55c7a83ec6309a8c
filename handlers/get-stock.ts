import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CoreDeps, coreDeps } from '../lib/deps';
import { httpErrors, json, requestLog } from '../lib/http';
import { stockFigures } from '../lib/inventory/stock-adjustments';
import { observed } from '../lib/observability';

/** GET /products/{productId}/stock (operator route: IAM-authorized in serverless.yml). */
export function getStockHandler(deps: () => Pick<CoreDeps, 'db' | 'redis' | 'log'>) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(httpErrors(() => deps().log))
    .handler(async (event) =>
      json(200, await stockFigures(deps().db, deps().redis, event.pathParameters?.productId ?? '')),
    );
}

export const handler = getStockHandler(coreDeps);
