import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CoreDeps, coreDeps } from '../lib/deps';
import { httpErrors, json, requestLog } from '../lib/http';
import { observed } from '../lib/observability';
import { getOrder } from '../lib/orders/get-order';

/** GET /orders/{orderId} (operator route: IAM-authorized in serverless.yml). */
export function getOrderHandler(deps: () => Pick<CoreDeps, 'db' | 'log'>) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(httpErrors(() => deps().log))
    .handler(async (event) => json(200, { order: await getOrder(deps().db, event.pathParameters?.orderId ?? '') }));
}

export const handler = getOrderHandler(coreDeps);
