/**
 * The service, as one Lambda container: loads the deployed create-order bundle (its own pool, Redis
 * client and Stripe client) and serves one POST /orders at a time. Round trips counted at the sockets.
 */

import { workerData } from 'node:worker_threads';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { serve } from './driver';
import type { ServiceWorkerData } from './protocol';
import { countRoundTrips } from './round-trips';

type Lambda = (event: APIGatewayProxyEventV2, context: Context) => Promise<{ statusCode: number }>;

const data = workerData as ServiceWorkerData;
// Log lines are built (JSON.stringify, as in Lambda) but not shipped: a worker thread's stdout goes
// through the main thread, which Lambda's own log shipping does not.
process.stdout.write = (() => true) as typeof process.stdout.write;
const counts = countRoundTrips(data.pgPort, data.redisPort);
// Loaded at run time, as Lambda loads it: the bundle is built by the bench, not by this file's build.
const { handler } = require(data.bundle) as { handler: Lambda };
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 28_000 } as unknown as Context;
let sent = 0;

/** API Gateway's HTTP API (payload 2.0) event for POST /orders. */
function createOrderEvent(productId: string): APIGatewayProxyEventV2 {
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /orders',
    rawPath: '/orders',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', 'idempotency-key': `${data.prefix}-${sent++}` },
    body: JSON.stringify({
      customerId: 'cus_bench',
      paymentMethodId: 'pm_card_visa',
      items: [{ productId, quantity: 1 }],
    }),
    isBase64Encoded: false,
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method: 'POST', path: '/orders', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: `${data.prefix}-${sent}`,
      routeKey: 'POST /orders',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
  };
}

serve(
  {
    setUp: async () => undefined,
    order: async (productId) => (await handler(createOrderEvent(productId), context)).statusCode,
  },
  counts,
);
