/**
 * "The limit": what a correct paid order cannot avoid, each in the fewest round trips, no framework:
 * hold (one Lua call), order and its item recorded (one statement), one Stripe call (the same
 * PaymentIntent the service creates, with its Idempotency-Key), stock taken with a guard and the
 * order marked paid (one statement), hold cleared and result stored (one pipeline).
 *
 * Its Stripe call is made one of two ways (workerData.stripe):
 * - `http`: one bare keep-alive HTTP request, the body the SDK would send;
 * - `sdk`: through the service's own Stripe client and payments adapter (same SDK and version,
 *   telemetry off, one retry, same timeout): the limit plus exactly the service's Stripe path.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { workerData } from 'node:worker_threads';
import Redis from 'ioredis';
import { Client } from 'pg';
import { readConfig } from '../../lib/config';
import { keys } from '../../lib/keys';
import type { ChargeRequest } from '../../lib/payments/payments';
import { createStripeClient } from '../../lib/payments/stripe-client';
import { stripePayments } from '../../lib/payments/stripe-payments';
import { serve } from './driver';
import type { LimitWorkerData } from './protocol';
import { countRoundTrips } from './round-trips';

const data = workerData as LimitWorkerData;
const counts = countRoundTrips(data.pgPort, data.redisPort);
const db = new Client({ connectionString: data.databaseUrl });
const redis = new Redis(data.redisUrl) as Redis & { reserve(...args: (string | number)[]): Promise<string[]> };
redis.defineCommand('reserve', { lua: data.reserveLua });
/** As the service holds: reservation TTL 15 minutes. */
const HOLD_SECONDS = 900;
/** As the service stores an answer: 24 hours. */
const ANSWER_SECONDS = 86_400;
const PRICE_CENTS = 1000; // every bench product's price

/** Resolves with the PaymentIntent id of a succeeded charge. */
type Charge = (request: ChargeRequest) => Promise<string>;

function bareHttpCharge(): Charge {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${data.stripeUrl}/v1/payment_intents`;
  return (charge) => {
    const body = new URLSearchParams({
      amount: String(charge.amountCents),
      currency: charge.currency,
      payment_method: charge.paymentMethodId,
      confirm: 'true',
      'automatic_payment_methods[enabled]': 'true',
      'automatic_payment_methods[allow_redirects]': 'never',
      'metadata[order_id]': charge.orderId,
      'metadata[customer_id]': charge.customerId,
    }).toString();
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: 'Bearer sk_test_bench',
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            'idempotency-key': `order-${charge.orderId}-payment`,
          },
        },
        (res) => {
          let answer = '';
          res.on('data', (chunk: Buffer) => {
            answer += chunk;
          });
          res.on('end', () => {
            const intent = JSON.parse(answer) as { id?: string; status?: string };
            if (intent.status === 'succeeded' && intent.id) resolve(intent.id);
            else reject(new Error(`stripe: ${res.statusCode} ${answer.slice(0, 200)}`));
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}

function sdkCharge(): Charge {
  const client = createStripeClient(readConfig()); // one per container, as defaultDeps() builds it
  const payments = stripePayments(() => client);
  return async (charge) => {
    const outcome = await payments.charge(charge);
    if (outcome.kind !== 'succeeded') throw new Error(`stripe: ${outcome.kind}`);
    return outcome.paymentIntentId;
  };
}

const charge = data.stripe === 'sdk' ? sdkCharge() : bareHttpCharge();

async function order(productId: string): Promise<number> {
  const id = randomUUID();
  const key = `limit-${id}`;
  const held = await redis.reserve(
    4,
    keys.reservation(id),
    keys.stock(productId),
    keys.held(productId),
    keys.holds(productId),
    HOLD_SECONDS,
    id,
    productId,
    1,
  );
  if (held[0] !== 'ok') throw new Error(`hold: ${held.join(' ')}`);
  await db.query(
    `WITH o AS (INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency)
       SELECT $1, $2, 'h', 'cus_bench', 'pm_card_visa', 'pending', p.price_cents, p.currency FROM products p WHERE p.id = $3
       RETURNING id, amount_cents)
     INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) SELECT o.id, $3, 1, o.amount_cents FROM o`,
    [id, key, productId],
  );
  const paymentIntentId = await charge({
    orderId: id,
    amountCents: PRICE_CENTS,
    currency: 'usd',
    paymentMethodId: 'pm_card_visa',
    customerId: 'cus_bench',
  });
  const paid = await db.query(
    `WITH t AS (UPDATE inventory SET quantity = quantity - 1 WHERE product_id = $2 AND quantity >= 1 RETURNING 1)
     UPDATE orders SET status = 'paid', payment_intent_id = $3 WHERE id = $1 AND EXISTS (SELECT 1 FROM t) RETURNING id`,
    [id, productId, paymentIntentId],
  );
  if (paid.rowCount !== 1) throw new Error('stock');
  await redis
    .multi()
    .hdel(keys.reservation(id), productId)
    .zrem(keys.holds(productId), `${id}|1`)
    .decrby(keys.held(productId), 1)
    .set(keys.idempotency(key), '{"done":1}', 'EX', ANSWER_SECONDS)
    .exec();
  return 201;
}

serve(
  {
    setUp: async () => {
      await db.connect();
    },
    order,
  },
  counts,
);
