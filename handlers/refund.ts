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
import { refundOrder } from '../lib/orders/refund-order';
import { refundRequestSchema } from '../lib/orders/refund-request';
import { idempotencyKeyFrom, parseOrThrow } from '../lib/validation';

/** POST /orders/{orderId}/refunds (operator route: IAM-authorized in serverless.yml). */
export function refundHandler(deps: () => Deps) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(
      outcomeMetrics(
        () => deps().metrics,
        ({ code }) => (code === 'refund_rejected' ? ['RefundsFailed'] : []),
      ),
    )
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use(emptyBodyIsEmptyObject())
    .use(jsonBody())
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const key = idempotencyKeyFrom(event.headers, false);
      const request = parseOrThrow(refundRequestSchema, event.body);
      const result = await refundOrder(deps(), event.pathParameters?.orderId ?? '', request, key);
      return idempotentJson(result);
    });
}

// Events this request wrote go out right after it (best effort; the scheduled publishEvents is the guarantee).
export const handler = withPublishSoon(refundHandler(defaultDeps), defaultPublishDeps);
