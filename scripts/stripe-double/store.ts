/**
 * What the double holds (PaymentIntents, refunds, idempotency keys, pending faults, counters) and
 * the Stripe objects' own rules: test cards, refund limits, list order, search.
 */
import { randomBytes } from 'node:crypto';
import paymentIntentFixture from '../../fixtures/stripe/payment_intent.json';
import refundFixture from '../../fixtures/stripe/refund.json';
import type { Events } from './events';
import { type Answer, id, invalidRequest, type Json, now } from './wire';

export type FaultMode = '500' | 'timeout' | 'drop';

export interface Stats {
  paymentIntentsCreated: number;
  refundsCreated: number;
  eventsDelivered: number;
  requests: number;
}

export interface Store {
  intents: Map<string, Json>;
  refunds: Map<string, Json>;
  /** `${url}:${Idempotency-Key}` -> the raw parameters and the first answer. */
  idempotent: Map<string, { params: string; status: number; body: unknown }>;
  /** The next `count` PaymentIntent creations fail with `mode`. */
  faults: { mode: FaultMode; count: number };
  stats: Stats;
  events: Events;
}

export function createIntent(store: Store, params: Json): Answer {
  const amount = Number(params.amount);
  const currency = String(params.currency ?? '');
  const paymentMethod = String(params.payment_method ?? '');
  if (!Number.isInteger(amount) || amount < 1) {
    return invalidRequest(400, 'parameter_invalid_integer', 'amount', 'Invalid integer: amount');
  }
  if (!/^[a-z]{3}$/.test(currency)) {
    return invalidRequest(400, 'parameter_invalid_string', 'currency', 'Invalid currency');
  }
  if (!paymentMethod.startsWith('pm_card_')) {
    return invalidRequest(400, 'resource_missing', 'payment_method', `No such PaymentMethod: '${paymentMethod}'`);
  }
  const confirm = params.confirm === 'true';
  const intent: Json = {
    ...paymentIntentFixture,
    id: id('pi'),
    amount,
    currency,
    created: now(),
    canceled_at: null,
    client_secret: null,
    customer: null,
    payment_method: paymentMethod,
    metadata: (params.metadata as Json) ?? {},
    automatic_payment_methods: params.automatic_payment_methods ?? null,
    last_payment_error: null,
    next_action: null,
    processing: null,
    latest_charge: null,
    status: 'requires_confirmation',
  };
  intent.client_secret = `${intent.id}_secret_${randomBytes(8).toString('hex')}`;
  store.stats.paymentIntentsCreated += 1;
  store.intents.set(String(intent.id), intent);
  if (!confirm) return { status: 200, body: intent };

  if (paymentMethod.startsWith('pm_card_chargeDeclined')) {
    const declineCode =
      paymentMethod === 'pm_card_chargeDeclinedInsufficientFunds' ? 'insufficient_funds' : 'generic_decline';
    const error = {
      type: 'card_error',
      code: 'card_declined',
      decline_code: declineCode,
      message: 'Your card was declined.',
      charge: id('ch'),
    };
    Object.assign(intent, { status: 'requires_payment_method', last_payment_error: error });
    store.events.emit('payment_intent.payment_failed', intent);
    return { status: 402, body: { error: { ...error, payment_intent: intent } } };
  }
  if (paymentMethod === 'pm_card_authenticationRequired') {
    Object.assign(intent, {
      status: 'requires_action',
      next_action: { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect' } },
    });
    return { status: 200, body: intent };
  }
  Object.assign(intent, { status: 'succeeded', amount_received: amount, latest_charge: id('ch') });
  store.events.emit('payment_intent.succeeded', intent);
  return { status: 200, body: intent };
}

/** The customer finished (or failed) 3-D Secure on a `requires_action` PaymentIntent. */
export function authenticate(store: Store, intentId: string, outcome: 'succeed' | 'fail'): Answer {
  const intent = store.intents.get(intentId);
  if (intent?.status !== 'requires_action') {
    return { status: 404, body: { error: 'no PaymentIntent waiting for authentication' } };
  }
  if (outcome === 'fail') {
    Object.assign(intent, {
      status: 'requires_payment_method',
      next_action: null,
      last_payment_error: {
        type: 'card_error',
        code: 'payment_intent_authentication_failure',
        message: 'The provided PaymentMethod has failed authentication.',
      },
    });
    store.events.emit('payment_intent.payment_failed', intent);
  } else {
    Object.assign(intent, {
      status: 'succeeded',
      next_action: null,
      amount_received: intent.amount,
      latest_charge: id('ch'),
    });
    store.events.emit('payment_intent.succeeded', intent);
  }
  return { status: 200, body: intent };
}

/** Stripe's search, for the one query this service sends: metadata['key']:'value'. */
export function searchIntents(store: Store, query: string): Json {
  const match = /metadata\['([^']+)'\]:'([^']*)'/.exec(query);
  const data = match
    ? [...store.intents.values()].filter((pi) => (pi.metadata as Json)?.[match[1] as string] === match[2])
    : [];
  return {
    object: 'search_result',
    data,
    has_more: false,
    next_page: null,
    url: '/v1/payment_intents/search',
    total_count: data.length,
  };
}

export function createRefund(store: Store, params: Json): Answer {
  const intent = store.intents.get(String(params.payment_intent ?? ''));
  if (!intent) {
    return invalidRequest(
      404,
      'resource_missing',
      'payment_intent',
      `No such payment_intent: '${String(params.payment_intent)}'`,
    );
  }
  const refunded = [...store.refunds.values()]
    .filter((r) => r.payment_intent === intent.id)
    .reduce((s, r) => s + Number(r.amount), 0);
  const amount = params.amount === undefined ? Number(intent.amount) - refunded : Number(params.amount);
  if (intent.status !== 'succeeded' || amount < 1 || refunded + amount > Number(intent.amount)) {
    return invalidRequest(
      400,
      'charge_already_refunded',
      undefined,
      `Refund amount (${amount}) is greater than unrefunded amount on charge (${Number(intent.amount) - refunded})`,
    );
  }
  const refund: Json = {
    ...refundFixture,
    id: id('re'),
    amount,
    currency: intent.currency,
    payment_intent: intent.id,
    charge: intent.latest_charge,
    created: now(),
    reason: params.reason ?? null,
    metadata: (params.metadata as Json) ?? {},
    status: 'succeeded',
  };
  store.stats.refundsCreated += 1;
  store.refunds.set(String(refund.id), refund);
  return { status: 200, body: refund };
}

/** Stripe's list of refunds: newest first, optionally of one PaymentIntent, `limit` 1-100 (default 10). */
export function listRefunds(store: Store, params: URLSearchParams): Answer {
  const rawLimit = params.get('limit');
  const limit = rawLimit === null ? 10 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    return invalidRequest(400, 'parameter_invalid_integer', 'limit', 'Invalid integer: limit (1-100)');
  }
  const paymentIntent = params.get('payment_intent');
  // Newest first; the Map keeps creation order, which breaks ties within one second.
  const all = [...store.refunds.values()]
    .filter((r) => paymentIntent === null || r.payment_intent === paymentIntent)
    .reverse();
  return {
    status: 200,
    body: { object: 'list', data: all.slice(0, limit), has_more: all.length > limit, url: '/v1/refunds' },
  };
}

/**
 * Stripe replays the first answer to a key (marked Idempotent-Replayed); the same key with other
 * parameters is an error. Keys are scoped to the URL; a 5xx is not kept, so a retry runs again.
 */
export function idempotent(store: Store, url: string, key: string | undefined, raw: string, run: () => Answer): Answer {
  if (key === undefined) return run();
  const scoped = `${url}:${key}`;
  const seen = store.idempotent.get(scoped);
  if (seen) {
    if (seen.params !== raw) {
      return {
        status: 400,
        body: {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          },
        },
      };
    }
    return { status: seen.status, body: seen.body, headers: { 'Idempotent-Replayed': 'true' } };
  }
  const result = run();
  if (result.status < 500) store.idempotent.set(scoped, { params: raw, status: result.status, body: result.body });
  return result;
}
