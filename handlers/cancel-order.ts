import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import { defaultPublishDeps } from '../lib/events/default-publisher';
import { withPublishSoon } from '../lib/events/publisher';
import {
  bodyLimit,
  emptyBodyIsEmptyObject,
  httpErrors,
  idempotentJson,
  jsonBody,
  outcomeMetrics,
  requestLog,
} from '../lib/http';
import { observed } from '../lib/observability';
import { cancelOrder } from '../lib/orders/cancel-order';
import { cancelRequestSchema } from '../lib/orders/cancel-request';
import { idempotencyKeyFrom, parseOrThrow } from '../lib/validation';

/** POST /orders/{orderId}/cancel (operator route: IAM-authorized in serverless.yml). */
export function cancelOrderHandler(deps: () => Deps) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(
      outcomeMetrics(
        () => deps().metrics,
        ({ statusCode, code }) =>
          statusCode === 200 ? ['OrdersCanceled'] : code === 'refund_rejected' ? ['RefundsFailed'] : [],
      ),
    )
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use(emptyBodyIsEmptyObject())
    .use(jsonBody())
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const key = idempotencyKeyFrom(event.headers, false);
      const request = parseOrThrow(cancelRequestSchema, event.body);
      const result = await cancelOrder(deps(), event.pathParameters?.orderId ?? '', request, key);
      return idempotentJson(result);
    });
}

// Events this request wrote go out right after it (best effort; the scheduled publishEvents is the guarantee).
export const handler = withPublishSoon(cancelOrderHandler(defaultDeps), defaultPublishDeps);
