/**
 * A local stand-in for the Stripe API, for `npm run dev`, the end-to-end suite and the benchmark:
 * no Stripe account needed. It speaks the REST API the Stripe SDK uses (form-encoded bodies,
 * Idempotency-Key, Stripe's error shapes) for the calls this service makes, follows Stripe's test
 * payment methods, and delivers signed payment_intent.* events to the webhook route the way
 * `stripe listen --forward-to` does. With a real test-mode key nothing here is used.
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
 * (newest first) and GET /v1/refunds/{id}.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import eventFixture from '../tests/fixtures/stripe/event.json';
import paymentIntentFixture from '../tests/fixtures/stripe/payment_intent.json';
import refundFixture from '../tests/fixtures/stripe/refund.json';

type Json = Record<string, unknown>;
export type FaultMode = '500' | 'timeout' | 'drop';

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
  stats: { paymentIntentsCreated: number; refundsCreated: number; eventsDelivered: number; requests: number };
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

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
const now = () => Math.floor(Date.now() / 1000);

/** Stripe's form encoding: a[b][c]=v and a[0]=v into nested objects and arrays. */
export function parseForm(body: string): Json {
  const out: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const path = rawKey.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> = out;
    path.forEach((segment, i) => {
      if (i === path.length - 1) node[segment] = value;
      else {
        node[segment] ??= {};
        node = node[segment] as Record<string, unknown>;
      }
    });
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': id('req'), ...headers });
  res.end(JSON.stringify(body));
}

function stripeError(res: ServerResponse, status: number, error: Json): void {
  send(res, status, { error: { request_log_url: null, ...error } });
}

export async function startStripeDouble(options: StripeDoubleOptions = {}): Promise<StripeDouble> {
  const log = options.log ?? (() => undefined);
  const intents = new Map<string, Json>();
  const refunds = new Map<string, Json>();
  const idempotent = new Map<string, { params: string; status: number; body: unknown }>();
  const faults: { mode: FaultMode; count: number } = { mode: '500', count: 0 };
  const stats = { paymentIntentsCreated: 0, refundsCreated: 0, eventsDelivered: 0, requests: 0 };
  const pendingDeliveries = new Set<Promise<void>>();
  const acknowledgedByObject = new Map<string, string[]>();

  async function deliver(type: string, object: Json): Promise<void> {
    if (!options.webhookUrl || !options.webhookSecret) return;
    const event = {
      ...eventFixture,
      id: id('evt'),
      type,
      created: now(),
      api_version: null,
      livemode: false,
      data: { object },
    };
    const payload = JSON.stringify(event);
    await new Promise((r) => setTimeout(r, options.deliveryDelayMs ?? 50));
    // Stripe retries failed deliveries; a few quick ones are enough locally.
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      try {
        const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: options.webhookSecret });
        const response = await fetch(options.webhookUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Stripe-Signature': signature },
          body: payload,
        });
        log(`stripe-double: ${type} ${event.id} -> ${response.status}`);
        if (response.ok) {
          stats.eventsDelivered += 1;
          const objectId = String(object.id);
          acknowledgedByObject.set(objectId, [...(acknowledgedByObject.get(objectId) ?? []), type]);
          return;
        }
      } catch (error) {
        log(`stripe-double: delivering ${type} failed: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }

  function schedule(type: string, object: Json): void {
    const delivery = deliver(type, structuredClone(object)).finally(() => pendingDeliveries.delete(delivery));
    pendingDeliveries.add(delivery);
  }

  function createIntent(params: Json): { status: number; body: Json } {
    const amount = Number(params.amount);
    const currency = String(params.currency ?? '');
    const paymentMethod = String(params.payment_method ?? '');
    if (!Number.isInteger(amount) || amount < 1) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'parameter_invalid_integer',
            param: 'amount',
            message: 'Invalid integer: amount',
          },
        },
      };
    }
    if (!/^[a-z]{3}$/.test(currency)) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'parameter_invalid_string',
            param: 'currency',
            message: 'Invalid currency',
          },
        },
      };
    }
    if (!paymentMethod.startsWith('pm_card_')) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            param: 'payment_method',
            message: `No such PaymentMethod: '${paymentMethod}'`,
          },
        },
      };
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
    stats.paymentIntentsCreated += 1;
    intents.set(String(intent.id), intent);
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
      schedule('payment_intent.payment_failed', intent);
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
    schedule('payment_intent.succeeded', intent);
    return { status: 200, body: intent };
  }

  function createRefund(params: Json): { status: number; body: Json } {
    const intent = intents.get(String(params.payment_intent ?? ''));
    if (!intent) {
      return {
        status: 404,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'resource_missing',
            param: 'payment_intent',
            message: `No such payment_intent: '${String(params.payment_intent)}'`,
          },
        },
      };
    }
    const refunded = [...refunds.values()]
      .filter((r) => r.payment_intent === intent.id)
      .reduce((s, r) => s + Number(r.amount), 0);
    const amount = params.amount === undefined ? Number(intent.amount) - refunded : Number(params.amount);
    if (intent.status !== 'succeeded' || amount < 1 || refunded + amount > Number(intent.amount)) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'charge_already_refunded',
            message: `Refund amount (${amount}) is greater than unrefunded amount on charge (${Number(intent.amount) - refunded})`,
          },
        },
      };
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
    stats.refundsCreated += 1;
    refunds.set(String(refund.id), refund);
    return { status: 200, body: refund };
  }

  /** Stripe's list of refunds: newest first, optionally of one PaymentIntent, `limit` 1-100 (default 10). */
  function listRefunds(params: URLSearchParams): { status: number; body: Json } {
    const rawLimit = params.get('limit');
    const limit = rawLimit === null ? 10 : Number(rawLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'parameter_invalid_integer',
            param: 'limit',
            message: 'Invalid integer: limit (1-100)',
          },
        },
      };
    }
    const paymentIntent = params.get('payment_intent');
    // Newest first; the Map keeps creation order, which breaks ties within one second.
    const all = [...refunds.values()]
      .filter((r) => paymentIntent === null || r.payment_intent === paymentIntent)
      .reverse();
    return {
      status: 200,
      body: { object: 'list', data: all.slice(0, limit), has_more: all.length > limit, url: '/v1/refunds' },
    };
  }

  function search(query: string): Json {
    const match = /metadata\['([^']+)'\]:'([^']*)'/.exec(query);
    const data = match
      ? [...intents.values()].filter((pi) => (pi.metadata as Json)?.[match[1] as string] === match[2])
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

  /** Stripe replays the first answer to a key; the same key with other parameters is an error. */
  function withIdempotencyThen(
    req: IncomingMessage,
    raw: string,
    run: () => { status: number; body: unknown },
    answer: (a: { status: number; body: unknown; replayed?: boolean }) => void,
  ): void {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string') {
      answer(run());
      return;
    }
    const scoped = `${req.url}:${key}`;
    const seen = idempotent.get(scoped);
    if (seen) {
      if (seen.params !== raw) {
        answer({
          status: 400,
          body: {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            },
          },
        });
        return;
      }
      answer({ status: seen.status, body: seen.body, replayed: true });
      return;
    }
    const result = run();
    if (result.status < 500) idempotent.set(scoped, { params: raw, ...result });
    answer(result);
  }

  function withIdempotency(
    req: IncomingMessage,
    raw: string,
    res: ServerResponse,
    run: () => { status: number; body: unknown },
  ): void {
    withIdempotencyThen(req, raw, run, (a) =>
      send(res, a.status, a.body, a.replayed ? { 'Idempotent-Replayed': 'true' } : {}),
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests += 1;
    const url = new URL(req.url ?? '/', 'http://stripe.double');
    const raw = await readBody(req);
    const auth = req.headers.authorization ?? '';
    if (url.pathname.startsWith('/v1/') && !/^Bearer sk_(test|live)_/.test(auth)) {
      stripeError(res, 401, { type: 'invalid_request_error', message: 'Invalid API Key provided' });
      return;
    }
    const intentPath = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
    const refundPath = /^\/v1\/refunds\/([^/]+)$/.exec(url.pathname);
    const authenticate = /^\/_double\/payment_intents\/([^/]+)\/authenticate$/.exec(url.pathname);

    if (req.method === 'POST' && url.pathname === '/v1/payment_intents') {
      if (faults.count > 0) {
        faults.count -= 1;
        if (faults.mode === '500')
          return stripeError(res, 500, { type: 'api_error', message: 'Something went wrong on our end (injected).' });
        // 'timeout' and 'drop' lose the answer *after* the charge, the nastier case: the card is
        // charged (a retry with the same key gets it back) but the caller never hears of it.
        withIdempotency(req, raw, new ServerResponse(req), () => createIntent(parseForm(raw)));
        if (faults.mode === 'drop') return void req.socket.destroy();
        return; // 'timeout': never answers; the SDK's timeout fires
      }
      let created: Json | undefined;
      const answer = await new Promise<{ status: number; body: unknown; replayed?: boolean }>((resolve) =>
        withIdempotencyThen(
          req,
          raw,
          () => {
            const result = createIntent(parseForm(raw));
            created = result.status === 200 ? result.body : undefined;
            return result;
          },
          resolve,
        ),
      );
      if (created && options.beforeAnswer) await options.beforeAnswer(created);
      if (res.destroyed) return;
      return send(res, answer.status, answer.body, answer.replayed ? { 'Idempotent-Replayed': 'true' } : {});
    }
    if (req.method === 'GET' && url.pathname === '/v1/payment_intents/search') {
      return send(res, 200, search(url.searchParams.get('query') ?? ''));
    }
    if (req.method === 'GET' && intentPath) {
      const intent = intents.get(intentPath[1] as string);
      if (intent) return send(res, 200, intent);
      return stripeError(res, 404, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        param: 'intent',
        message: `No such payment_intent: '${intentPath[1]}'`,
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/refunds') {
      return withIdempotency(req, raw, res, () => createRefund(parseForm(raw)));
    }
    if (req.method === 'GET' && url.pathname === '/v1/refunds') {
      const listed = listRefunds(url.searchParams);
      return send(res, listed.status, listed.body);
    }
    if (req.method === 'GET' && refundPath) {
      const refund = refunds.get(refundPath[1] as string);
      if (refund) return send(res, 200, refund);
      return stripeError(res, 404, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        param: 'id',
        message: `No such refund: '${refundPath[1]}'`,
      });
    }
    if (req.method === 'POST' && authenticate) {
      const intent = intents.get(authenticate[1] as string);
      if (intent?.status !== 'requires_action')
        return send(res, 404, { error: 'no PaymentIntent waiting for authentication' });
      const outcome = new URLSearchParams(raw).get('outcome') ?? (raw.includes('fail') ? 'fail' : 'succeed');
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
        schedule('payment_intent.payment_failed', intent);
      } else {
        Object.assign(intent, {
          status: 'succeeded',
          next_action: null,
          amount_received: intent.amount,
          latest_charge: id('ch'),
        });
        schedule('payment_intent.succeeded', intent);
      }
      return send(res, 200, intent);
    }
    if (req.method === 'POST' && url.pathname === '/_double/faults') {
      const body = JSON.parse(raw || '{}') as { mode?: FaultMode; count?: number };
      faults.mode = body.mode ?? '500';
      faults.count = body.count ?? 1;
      return send(res, 200, faults);
    }
    if (req.method === 'GET' && url.pathname === '/_double/stats') return send(res, 200, stats);
    stripeError(res, 404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${req.method}: ${url.pathname}).`,
    });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`stripe-double: ${(error as Error).stack}`);
      if (!res.headersSent) stripeError(res, 500, { type: 'api_error', message: 'double failed' });
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    intentsFor: (orderId) => [...intents.values()].filter((pi) => (pi.metadata as Json)?.order_id === orderId),
    acknowledged: (objectId) => [...(acknowledgedByObject.get(objectId) ?? [])],
    refundsFor: (paymentIntentId) => [...refunds.values()].filter((r) => r.payment_intent === paymentIntentId),
    injectFault: (mode, count) => Object.assign(faults, { mode, count }),
    close: async () => {
      await Promise.allSettled([...pendingDeliveries]);
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
