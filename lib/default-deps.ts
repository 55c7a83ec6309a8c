import Stripe from 'stripe';
import { coreDeps, type Deps } from './deps';
import { createStripeClient } from './payments/stripe-client';
import { stripePayments } from './payments/stripe-payments';

let deps: Deps | undefined;
let stripeClient: Stripe | undefined;

/** coreDeps plus one Stripe client per container, built on first use (the secret key is read then). */
export function defaultDeps(): Deps {
  if (!deps) {
    const core = coreDeps();
    const stripe = () => (stripeClient ??= createStripeClient(core.config));
    deps = { ...core, webhooks: Stripe.webhooks, payments: stripePayments(stripe) };
  }
  return deps;
}
