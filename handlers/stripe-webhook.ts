import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { stripeWebhookSecrets } from '../lib/config';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import { defaultPublishDeps } from '../lib/events/default-publisher';
import { withPublishSoon } from '../lib/events/publisher';
import { bodyLimit, httpErrors, json, requestLog } from '../lib/http';
import { type AppMetrics, type MetricName, observed } from '../lib/observability';
import { applyStripeEvent } from '../lib/orders/apply-payment-event';
import { rawBodyOf, verifyStripeEvent } from '../lib/payments/verify-event';

/**
 * POST /webhooks/stripe. No JSON body parser: the signature is over the raw bytes. Stripe's own
 * events are about 2-10 KB, well under the body limit.
 */
export function stripeWebhookHandler(deps: () => Deps, secrets: () => readonly string[] = stripeWebhookSecrets) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
    .use(observed())
    .use(requestLog(() => deps().log))
    .use(httpHeaderNormalizer())
    .use(bodyLimit())
    .use(httpErrors(() => deps().log))
    .handler(async (event) => {
      const stripeEvent = verifyStripeEvent(
        deps().webhooks,
        rawBodyOf(event),
        event.headers['stripe-signature'],
        secrets(),
      );
      const outcome = await applyStripeEvent(deps(), stripeEvent);
      deps().log.info('stripe event', { eventId: stripeEvent.id, eventType: stripeEvent.type, ...outcome });
      if (!outcome.duplicate) countEvent(deps().metrics, stripeEvent.created, outcome.result);
      return json(200, outcome.duplicate ? { received: true, duplicate: true } : { received: true });
    });
}

/** The event outcomes that are counted, and as what. */
const COUNTED: Partial<Record<string, MetricName>> = {
  paid: 'OrdersPaid',
  out_of_stock: 'OrdersOutOfStock',
  canceled: 'OrdersCanceled',
  refund_failed: 'RefundsFailed',
};

/** How late Stripe's event reached us (from its `created`), and what it did to the order. */
function countEvent(metrics: AppMetrics | undefined, created: number, result: string | undefined): void {
  if (!metrics) return;
  metrics.seconds('WebhookDelay', Math.max(0, Math.round(Date.now() / 1000 - created)));
  const name = result ? COUNTED[result] : undefined;
  if (name) metrics.count(name);
}

// Events this request wrote go out right after it (best effort; the scheduled publishEvents is the guarantee).
export const handler = withPublishSoon(stripeWebhookHandler(defaultDeps), defaultPublishDeps);
