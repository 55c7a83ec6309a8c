/**
 * The double's routes: one entry per endpoint, named after Stripe's OpenAPI operation
 * (PostPaymentIntents, GetRefundsRefund, ...), dispatched by `dispatch`. A new endpoint (cancel,
 * refund updates, disputes) is one handler and one line in ROUTES.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  authenticate,
  cancelIntent,
  changeRefundStatus,
  createIntent,
  createRefund,
  dashboardRefund,
  type FaultMode,
  idempotent,
  listRefunds,
  moveDispute,
  openDispute,
  type Store,
  searchIntents,
} from './store';
import { type Answer, type Json, parseForm, readBody, send, stripeError } from './wire';

export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The route's capture groups (an object's id). */
  params: string[];
  /** The request body as sent (form-encoded for /v1, JSON for the double's own controls). */
  raw: string;
  store: Store;
  /** See StripeDoubleOptions.beforeAnswer. */
  beforeAnswer?: (intent: Json) => Promise<void>;
}

/** An answer to send, or undefined when the handler answered (or, on purpose, did not) itself. */
export type Handle = (call: Call) => Answer | undefined | Promise<Answer | undefined>;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: RegExp;
  handle: Handle;
}

const idempotencyKey = (req: IncomingMessage) => {
  const key = req.headers['idempotency-key'];
  return typeof key === 'string' ? key : undefined;
};

/** Creates (and confirms) a PaymentIntent, or fails the way an injected fault says. */
async function postPaymentIntents({ req, res, raw, store, beforeAnswer }: Call): Promise<Answer | undefined> {
  const key = idempotencyKey(req);
  const url = req.url ?? '';
  if (store.faults.count > 0) {
    store.faults.count -= 1;
    if (store.faults.mode === '500') {
      return stripeError(500, { type: 'api_error', message: 'Something went wrong on our end (injected).' });
    }
    // 'timeout' and 'drop' lose the answer *after* the charge, the nastier case: the card is
    // charged (a retry with the same key gets it back) but the caller never hears of it.
    idempotent(store, url, key, raw, () => createIntent(store, parseForm(raw)));
    if (store.faults.mode === 'drop') req.socket.destroy();
    return undefined; // 'timeout': never answers; the SDK's timeout fires
  }
  let created: Json | undefined;
  const answer = idempotent(store, url, key, raw, () => {
    const result = createIntent(store, parseForm(raw));
    created = result.status === 200 ? (result.body as Json) : undefined;
    return result;
  });
  if (created && beforeAnswer) await beforeAnswer(created);
  return res.destroyed ? undefined : answer;
}

function getPaymentIntentsSearch({ url, store }: Call): Answer {
  return { status: 200, body: searchIntents(store, url.searchParams.get('query') ?? '') };
}

function getPaymentIntentsIntent({ params: [intentId], store }: Call): Answer {
  const intent = store.intents.get(intentId as string);
  if (intent) return { status: 200, body: intent };
  return stripeError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    param: 'intent',
    message: `No such payment_intent: '${intentId}'`,
  });
}

function postPaymentIntentsIntentCancel({ req, params: [intentId], raw, store }: Call): Answer {
  return idempotent(store, req.url ?? '', idempotencyKey(req), raw, () =>
    cancelIntent(store, intentId as string, parseForm(raw)),
  );
}

function postRefunds({ req, raw, store }: Call): Answer {
  return idempotent(store, req.url ?? '', idempotencyKey(req), raw, () => createRefund(store, parseForm(raw)));
}

function getRefunds({ url, store }: Call): Answer {
  return listRefunds(store, url.searchParams);
}

function getRefundsRefund({ params: [refundId], store }: Call): Answer {
  const refund = store.refunds.get(refundId as string);
  if (refund) return { status: 200, body: refund };
  return stripeError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    param: 'id',
    message: `No such refund: '${refundId}'`,
  });
}

/** The double's own: finish 3-D Secure on a requires_action PaymentIntent (body outcome=succeed|fail). */
function postDoubleAuthenticate({ params: [intentId], raw, store }: Call): Answer {
  const outcome = new URLSearchParams(raw).get('outcome') ?? (raw.includes('fail') ? 'fail' : 'succeed');
  return authenticate(store, intentId as string, outcome === 'fail' ? 'fail' : 'succeed');
}

/** The double's own: json {"mode":"500"|"timeout"|"drop","count":n} fails the next n creations. */
function postDoubleFaults({ raw, store }: Call): Answer {
  const body = JSON.parse(raw || '{}') as { mode?: FaultMode; count?: number };
  store.faults.mode = body.mode ?? '500';
  store.faults.count = body.count ?? 1;
  return { status: 200, body: store.faults };
}

/** The double's own: json {"status","failure_reason"} changes a refund as Stripe later would. */
function postDoubleRefundStatus({ params: [refundId], raw, store }: Call): Answer {
  return changeRefundStatus(store, refundId as string, JSON.parse(raw || '{}') as Json);
}

/** The double's own: json {"payment_intent","amount"?}, a refund made in the dashboard. */
function postDoubleDashboardRefund({ raw, store }: Call): Answer {
  return dashboardRefund(store, JSON.parse(raw || '{}') as Json);
}

/** The double's own: json {"payment_intent","amount"?,"reason"?} opens a dispute. */
function postDoubleDisputes({ raw, store }: Call): Answer {
  return openDispute(store, JSON.parse(raw || '{}') as Json);
}

/** The double's own: json {"status": "under_review"|"won"|"lost"} moves a dispute. */
function postDoubleDisputeStatus({ params: [disputeId], raw, store }: Call): Answer {
  return moveDispute(store, disputeId as string, JSON.parse(raw || '{}') as Json);
}

function getDoubleStats({ store }: Call): Answer {
  return { status: 200, body: store.stats };
}

/** First match wins: /search before /{intent}. */
export const ROUTES: readonly Route[] = [
  { method: 'POST', path: /^\/v1\/payment_intents$/, handle: postPaymentIntents },
  { method: 'GET', path: /^\/v1\/payment_intents\/search$/, handle: getPaymentIntentsSearch },
  { method: 'GET', path: /^\/v1\/payment_intents\/([^/]+)$/, handle: getPaymentIntentsIntent },
  { method: 'POST', path: /^\/v1\/payment_intents\/([^/]+)\/cancel$/, handle: postPaymentIntentsIntentCancel },
  { method: 'POST', path: /^\/v1\/refunds$/, handle: postRefunds },
  { method: 'GET', path: /^\/v1\/refunds$/, handle: getRefunds },
  { method: 'GET', path: /^\/v1\/refunds\/([^/]+)$/, handle: getRefundsRefund },
  { method: 'POST', path: /^\/_double\/payment_intents\/([^/]+)\/authenticate$/, handle: postDoubleAuthenticate },
  { method: 'POST', path: /^\/_double\/faults$/, handle: postDoubleFaults },
  { method: 'POST', path: /^\/_double\/refunds\/([^/]+)\/status$/, handle: postDoubleRefundStatus },
  { method: 'POST', path: /^\/_double\/dashboard_refunds$/, handle: postDoubleDashboardRefund },
  { method: 'POST', path: /^\/_double\/disputes$/, handle: postDoubleDisputes },
  { method: 'POST', path: /^\/_double\/disputes\/([^/]+)\/status$/, handle: postDoubleDisputeStatus },
  { method: 'GET', path: /^\/_double\/stats$/, handle: getDoubleStats },
];

/** Reads the request, checks the API key for /v1, runs the first route that matches, sends its answer. */
export async function dispatch(
  routes: readonly Route[],
  req: IncomingMessage,
  res: ServerResponse,
  context: Pick<Call, 'store' | 'beforeAnswer'>,
): Promise<void> {
  context.store.stats.requests += 1;
  const url = new URL(req.url ?? '/', 'http://stripe.double');
  const raw = await readBody(req);
  if (url.pathname.startsWith('/v1/') && !/^Bearer sk_(test|live)_/.test(req.headers.authorization ?? '')) {
    return send(res, stripeError(401, { type: 'invalid_request_error', message: 'Invalid API Key provided' }));
  }
  for (const route of routes) {
    const match = req.method === route.method ? route.path.exec(url.pathname) : null;
    if (!match) continue;
    const answer = await route.handle({ ...context, req, res, url, raw, params: match.slice(1) });
    if (answer) send(res, answer);
    return;
  }
  send(
    res,
    stripeError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${req.method}: ${url.pathname}).`,
    }),
  );
}
