/**
 * A local stand-in for the Stripe API, for `npm run dev`, the end-to-end suite and the benchmark:
 * no Stripe account needed. It speaks the REST API the Stripe SDK uses (form-encoded bodies,
 * Idempotency-Key, Stripe's error shapes) for the calls this service makes, follows Stripe's test
 * payment methods, and delivers signed events (payment_intent.*, refund.*, charge.refunded,
 * charge.refund.updated, charge.dispute.*) to the webhook route the way `stripe listen --forward-to`
 * does. With a real test-mode key nothing here is used.
 *
 *   pm_card_visa (and other pm_card_*)   -> succeeded
 *   pm_card_chargeDeclined               -> 402 card_error card_declined (generic_decline)
 *   pm_card_chargeDeclinedInsufficientFunds -> 402 card_declined (insufficient_funds)
 *   pm_card_authenticationRequired       -> requires_action; finish it with
 *       POST /_double/payment_intents/{id}/authenticate  (body: outcome=succeed|fail)
 *
 * Test controls: POST /_double/faults (json {"mode":"500"|"timeout"|"drop","count":n}) makes the
 * next n PaymentIntent creations fail that way ('500' before charging; 'timeout' and 'drop' after
 * charging, losing the answer); GET /_double/stats counts what was asked.
 *
 * Refunds can be read back as Stripe lists them: GET /v1/refunds?payment_intent=pi_...&limit=N
 * (newest first) and GET /v1/refunds/{id}. POST /v1/payment_intents/{id}/cancel cancels from the
 * statuses Stripe allows (else 400 payment_intent_unexpected_state) and emits payment_intent.canceled.
 *
 * What happens at Stripe later, as test controls (json bodies), each delivering Stripe's events:
 *   POST /_double/refunds/{id}/status     {"status":"failed"|"canceled"|"succeeded","failure_reason"}
 *   POST /_double/dashboard_refunds       {"payment_intent","amount"?}  a refund made in the dashboard
 *   POST /_double/disputes                {"payment_intent","amount"?,"reason"?}  charge.dispute.created
 *   POST /_double/disputes/{id}/status    {"status":"under_review"|"won"|"lost"}
 *
 * The endpoints are a table (stripe-double/routes.ts); the objects' rules and what the double holds
 * are in stripe-double/store.ts, event delivery in stripe-double/events.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookEvents } from './stripe-double/events';
import { dispatch, ROUTES } from './stripe-double/routes';
import type { FaultMode, Stats, Store } from './stripe-double/store';
import { type Json, send, stripeError } from './stripe-double/wire';

export type { FaultMode } from './stripe-double/store';
export { parseForm } from './stripe-double/wire';

export interface StripeDoubleOptions {
  port?: number;
  /** Where to deliver events; none: events are not delivered. */
  webhookUrl?: string;
  webhookSecret?: string;
  /** Delay before delivering an event (ms), as Stripe's own is never instant. */
  deliveryDelayMs?: number;
  log?: (line: string) => void;
  /**
   * Called after a PaymentIntent was created (the card is charged) and before the answer is sent:
   * a test can hold the answer here, e.g. to kill the caller between the charge and its commit.
   */
  beforeAnswer?: (intent: Json) => Promise<void>;
}

export interface StripeDouble {
  url: string;
  port: number;
  stats: Stats;
  /** The PaymentIntents created for an order (metadata.order_id): what its customer was charged. */
  intentsFor(orderId: string): Json[];
  /** The refunds made on a PaymentIntent, oldest first: what went back to its customer. */
  refundsFor(paymentIntentId: string): Json[];
  /** The event types the webhook route acknowledged (2xx) for this object id, in order. */
  acknowledged(objectId: string): string[];
  /** Makes the next `count` PaymentIntent creations fail (see the file comment). */
  injectFault(mode: FaultMode, count: number): void;
  close(): Promise<void>;
}

export async function startStripeDouble(options: StripeDoubleOptions = {}): Promise<StripeDouble> {
  const log = options.log ?? (() => undefined);
  const stats: Stats = {
    paymentIntentsCreated: 0,
    paymentIntentsCanceled: 0,
    refundsCreated: 0,
    eventsDelivered: 0,
    requests: 0,
  };
  const store: Store = {
    intents: new Map(),
    refunds: new Map(),
    disputes: new Map(),
    idempotent: new Map(),
    faults: { mode: '500', count: 0 },
    stats,
    events: webhookEvents({ ...options, log, stats }),
  };

  const server: Server = createServer((req, res) => {
    dispatch(ROUTES, req, res, { store, beforeAnswer: options.beforeAnswer }).catch((error: unknown) => {
      log(`stripe-double: ${(error as Error).stack}`);
      if (!res.headersSent) send(res, stripeError(500, { type: 'api_error', message: 'double failed' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    intentsFor: (orderId) => [...store.intents.values()].filter((pi) => (pi.metadata as Json)?.order_id === orderId),
    acknowledged: (objectId) => store.events.acknowledged(objectId),
    refundsFor: (paymentIntentId) => [...store.refunds.values()].filter((r) => r.payment_intent === paymentIntentId),
    injectFault: (mode, count) => Object.assign(store.faults, { mode, count }),
    close: async () => {
      await store.events.settle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// `tsx scripts/stripe-double.ts [port]`: run it on its own.
if (require.main === module) {
  startStripeDouble({
    port: Number(process.argv[2] ?? 12111),
    webhookUrl: process.env.STRIPE_DOUBLE_WEBHOOK_URL,
    webhookSecret: process.env.STRIPE_WEBHOOK_SECRET?.split(',')[0],
    log: (line) => process.stdout.write(`${line}\n`),
  })
    .then((double) => process.stdout.write(`stripe double on ${double.url}\n`))
    .catch((error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    });
}
