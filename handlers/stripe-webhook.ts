import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { stripeWebhookSecrets } from '../lib/config';
import { defaultDeps } from '../lib/default-deps';
import type { Deps } from '../lib/deps';
import { bodyLimit, httpErrors, json, requestLog } from '../lib/http';
import { applyStripeEvent } from '../lib/orders/apply-payment-event';
import { rawBodyOf, verifyStripeEvent } from '../lib/payments/verify-event';

/**
 * POST /webhooks/stripe. No JSON body parser: the signature is over the raw bytes. Stripe's own
 * events are about 2-10 KB, well under the body limit.
 */
export function stripeWebhookHandler(deps: () => Deps, secrets: () => readonly string[] = stripeWebhookSecrets) {
  return middy<APIGatewayProxyEventV2, unknown, Error, Context>()
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
      return json(200, outcome.duplicate ? { received: true, duplicate: true } : { received: true });
    });
}

export const handler = stripeWebhookHandler(defaultDeps);
