/**
 * What the double holds (PaymentIntents, refunds, idempotency keys, pending faults, counters) and
 * the Stripe objects' own rules: test cards, refund limits, list order, search.
 */
import { randomBytes } from 'node:crypto';
import chargeFixture from '../../fixtures/stripe/charge.json';
import paymentIntentFixture from '../../fixtures/stripe/payment_intent.json';
import refundFixture from '../../fixtures/stripe/refund.json';
import type { Events } from './events';
import { type Answer, id, invalidRequest, type Json, now } from './wire';

export type FaultMode = '500' | 'timeout' | 'drop';

export interface Stats {
  paymentIntentsCreated: number;
  paymentIntentsCanceled: number;
  refundsCreated: number;
  eventsDelivered: number;
  requests: number;
}

export interface Store {
  intents: Map<string, Json>;
  refunds: Map<string, Json>;
  disputes: Map<string, Json>;
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
  // Money a refund did not return (failed, canceled) can be refunded again.
  const refunded = [...store.refunds.values()]
    .filter((r) => r.payment_intent === intent.id && r.status !== 'failed' && r.status !== 'canceled')
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
  emitRefundCreated(store, refund, intent);
  return { status: 200, body: refund };
}

/** What Stripe sends for a new card refund: refund.created, and charge.refunded with the charge. */
function emitRefundCreated(store: Store, refund: Json, intent: Json): void {
  store.events.emit('refund.created', refund);
  store.events.emit('charge.refunded', chargeOf(store, intent));
}

/** The PaymentIntent's charge as Stripe shows it: amounts refunded so far and its refunds, newest first. */
function chargeOf(store: Store, intent: Json): Json {
  const refunds = [...store.refunds.values()].filter((r) => r.payment_intent === intent.id).reverse();
  const refunded = refunds
    .filter((r) => r.status === 'succeeded' || r.status === 'pending')
    .reduce((sum, r) => sum + Number(r.amount), 0);
  return {
    ...chargeFixture,
    id: intent.latest_charge,
    amount: intent.amount,
    amount_captured: intent.amount,
    amount_refunded: refunded,
    captured: true,
    currency: intent.currency,
    payment_intent: intent.id,
    metadata: intent.metadata,
    refunded: refunded >= Number(intent.amount),
    refunds: { object: 'list', data: refunds, has_more: false, total_count: refunds.length, url: '/v1/refunds' },
    status: 'succeeded',
  };
}

const CANCELABLE = new Set(['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action']);
const CANCELLATION_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned']);

/** POST /v1/payment_intents/{id}/cancel: only from the statuses Stripe allows; emits payment_intent.canceled. */
export function cancelIntent(store: Store, intentId: string, params: Json): Answer {
  const intent = store.intents.get(intentId);
  if (!intent) return invalidRequest(404, 'resource_missing', 'intent', `No such payment_intent: '${intentId}'`);
  const reason = params.cancellation_reason;
  if (reason !== undefined && !CANCELLATION_REASONS.has(String(reason))) {
    return invalidRequest(400, 'parameter_invalid_string', 'cancellation_reason', 'Invalid cancellation_reason');
  }
  if (!CANCELABLE.has(String(intent.status))) {
    return {
      status: 400,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'payment_intent_unexpected_state',
          message: `You cannot cancel this PaymentIntent because it has a status of ${String(intent.status)}.`,
          payment_intent: intent,
        },
      },
    };
  }
  Object.assign(intent, {
    status: 'canceled',
    canceled_at: now(),
    cancellation_reason: reason ?? null,
    next_action: null,
  });
  store.stats.paymentIntentsCanceled += 1;
  store.events.emit('payment_intent.canceled', intent);
  return { status: 200, body: intent };
}

/**
 * The double's own: Stripe's later word on a refund (a card closed, a bank that sent it back):
 * status `failed` or `canceled` (with failure_reason) or `succeeded`; emits refund.updated,
 * charge.refund.updated (and refund.failed for failed), as Stripe does.
 */
export function changeRefundStatus(store: Store, refundId: string, params: Json): Answer {
  const refund = store.refunds.get(refundId);
  if (!refund) return { status: 404, body: { error: `no refund ${refundId}` } };
  const status = String(params.status ?? '');
  if (!['succeeded', 'failed', 'canceled', 'pending'].includes(status)) {
    return { status: 400, body: { error: 'status must be succeeded, failed, canceled or pending' } };
  }
  Object.assign(refund, {
    status,
    failure_reason: status === 'failed' || status === 'canceled' ? String(params.failure_reason ?? 'unknown') : null,
  });
  store.events.emit('refund.updated', refund);
  store.events.emit('charge.refund.updated', refund);
  if (status === 'failed') store.events.emit('refund.failed', refund);
  return { status: 200, body: refund };
}

/** The double's own: a refund made in the Stripe dashboard (no metadata of ours), with its events. */
export function dashboardRefund(store: Store, params: Json): Answer {
  const intent = store.intents.get(String(params.payment_intent ?? ''));
  if (intent?.status !== 'succeeded') return { status: 404, body: { error: 'no succeeded PaymentIntent' } };
  const refunded = [...store.refunds.values()]
    .filter((r) => r.payment_intent === intent.id && r.status !== 'failed' && r.status !== 'canceled')
    .reduce((sum, r) => sum + Number(r.amount), 0);
  const amount = params.amount === undefined ? Number(intent.amount) - refunded : Number(params.amount);
  if (!Number.isInteger(amount) || amount < 1 || refunded + amount > Number(intent.amount)) {
    return invalidRequest(400, 'charge_already_refunded', 'amount', 'Refund amount is greater than unrefunded amount');
  }
  const refund: Json = {
    ...refundFixture,
    id: id('re'),
    amount,
    currency: intent.currency,
    payment_intent: intent.id,
    charge: intent.latest_charge,
    created: now(),
    reason: 'requested_by_customer',
    metadata: {},
    status: 'succeeded',
  };
  store.refunds.set(String(refund.id), refund);
  emitRefundCreated(store, refund, intent);
  return { status: 200, body: refund };
}

/** The double's own: a customer's bank disputes a payment (charge.dispute.created). */
export function openDispute(store: Store, params: Json): Answer {
  const intent = store.intents.get(String(params.payment_intent ?? ''));
  if (intent?.status !== 'succeeded') return { status: 404, body: { error: 'no succeeded PaymentIntent' } };
  const dispute: Json = {
    id: id('dp'),
    object: 'dispute',
    amount: params.amount === undefined ? intent.amount : Number(params.amount),
    currency: intent.currency,
    charge: intent.latest_charge,
    payment_intent: intent.id,
    created: now(),
    reason: String(params.reason ?? 'fraudulent'),
    status: 'needs_response',
    is_charge_refundable: false,
    livemode: false,
    metadata: {},
    evidence_details: { due_by: now() + 7 * 24 * 3600, has_evidence: false, past_due: false, submission_count: 0 },
  };
  store.disputes.set(String(dispute.id), dispute);
  store.events.emit('charge.dispute.created', dispute);
  return { status: 200, body: dispute };
}

/** The double's own: the dispute moves (under_review) or closes (won, lost). */
export function moveDispute(store: Store, disputeId: string, params: Json): Answer {
  const dispute = store.disputes.get(disputeId);
  if (!dispute) return { status: 404, body: { error: `no dispute ${disputeId}` } };
  const status = String(params.status ?? '');
  if (!['under_review', 'won', 'lost', 'warning_closed'].includes(status)) {
    return { status: 400, body: { error: 'status must be under_review, won, lost or warning_closed' } };
  }
  dispute.status = status;
  store.events.emit(status === 'under_review' ? 'charge.dispute.updated' : 'charge.dispute.closed', dispute);
  return { status: 200, body: dispute };
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
