import Stripe from 'stripe';
import { coreDeps, type Deps } from './deps';
import { createStripeClient } from './payments/stripe-client';
import { stripePayments } from './payments/stripe-payments';
import { timedPayments } from './payments/timed';

let deps: Deps | undefined;
let stripeClient: Stripe | undefined;

/** coreDeps plus one Stripe client per container, built on first use (the secret key is read then). */
export function defaultDeps(): Deps {
  if (!deps) {
    const core = coreDeps();
    const stripe = () => (stripeClient ??= createStripeClient(core.config));
    const payments = stripePayments(stripe);
    deps = {
      ...core,
      webhooks: Stripe.webhooks,
      payments: core.metrics ? timedPayments(payments, core.metrics) : payments,
    };
  }
  return deps;
}
