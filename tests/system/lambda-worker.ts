/**
 * One "Lambda container" in its own process: loads the handler modules (so it has its own pool,
 * Redis client and Stripe client, built from the environment as deployed) and serves one request
 * at a time over IPC. Killing it with SIGKILL is a Lambda dying mid-request.
 */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { handler as adjustStock } from '../../handlers/adjust-stock';
import { handler as cancelOrder } from '../../handlers/cancel-order';
import { handler as createOrder } from '../../handlers/create-order';
import { handler as expireOrders } from '../../handlers/expire-orders';
import { handler as getOrder } from '../../handlers/get-order';
import { handler as getStock } from '../../handlers/get-stock';
import { handler as refund } from '../../handlers/refund';
import { handler as stripeWebhook } from '../../handlers/stripe-webhook';

// expireOrders is the scheduled function: its event is EventBridge's, its result the run's summary.
const handlers = {
  adjustStock,
  cancelOrder,
  createOrder,
  expireOrders,
  getOrder,
  getStock,
  refund,
  stripeWebhook,
} as const;
export type HandlerName = keyof typeof handlers;

interface Invocation {
  id: number;
  name: HandlerName;
  event: APIGatewayProxyEventV2;
}

let served = 0;
process.on('message', (message: Invocation) => {
  served += 1;
  const context = {
    awsRequestId: `${process.pid}-${served}`,
    getRemainingTimeInMillis: () => 28_000,
  } as unknown as Context;
  (handlers[message.name] as (e: APIGatewayProxyEventV2, c: Context) => Promise<unknown>)(message.event, context).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: String(error) }),
  );
});
process.send?.({ ready: true });
