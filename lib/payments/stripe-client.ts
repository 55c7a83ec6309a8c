import Stripe from 'stripe';
import { type Config, stripeSecretKey } from '../config';

/**
 * Stripe's idempotency keys make a retried create or refund safe, so the SDK may retry once on a
 * network error; more would outlast API Gateway's 29 s.
 */
const MAX_NETWORK_RETRIES = 1;

/** Built once per container, on first use: the secret key is read here and nowhere else. */
export function createStripeClient(config: Config): Stripe {
  const base = config.stripeApiBase;
  return new Stripe(stripeSecretKey(), {
    maxNetworkRetries: MAX_NETWORK_RETRIES,
    timeout: config.stripeTimeoutMs,
    // No X-Stripe-Client-Telemetry header (the previous request's latency, sent to Stripe): less
    // work on every call, and nothing about our traffic leaves with our requests.
    telemetry: false,
    ...(base
      ? {
          protocol: base.protocol === 'http:' ? 'http' : 'https',
          host: base.hostname,
          port: base.port || (base.protocol === 'http:' ? 80 : 443),
        }
      : {}),
  });
}
