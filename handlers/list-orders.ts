import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { type CoreDeps, coreDeps } from '../lib/deps';
import { httpErrors, json, requestLog } from '../lib/http';
import { observed } from '../lib/observability';
import { listOrders, parseListQuery } from '../lib/orders/list-orders';

/** A REST API (payload 1.0) event also carries every value of a repeated query parameter. */
type ListEvent = APIGatewayProxyEventV2 & {
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
};

/** GET /orders (operator route: IAM-authorized in serverless.yml). */
export function listOrdersHandler(deps: () => Pick<CoreDeps, 'db' | 'log'>) {
  return middy<ListEvent, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const query = parseListQuery(event.queryStringParameters, event.multiValueQueryStringParameters);
      return json(200, await listOrders(deps().db, query));
    });
}

export const handler = listOrdersHandler(coreDeps);
