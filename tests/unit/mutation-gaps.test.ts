import Stripe from 'stripe';
import type { Db } from '../../lib/db';
import { ServiceUnavailableError } from '../../lib/errors';
import { reserve } from '../../lib/inventory/reservations';
import { type ChargeRequest, PaymentProviderError } from '../../lib/payments/payments';
import { stripePayments } from '../../lib/payments/stripe-payments';
import type { RedisClient } from '../../lib/redis';

/**
 * Written for mutation testing (MUTATION.md, "Gaps worth closing first"): behaviour no other test
 * pinned, each seen to fail against the mutant it names.
 */

describe('stripePayments.charge: an error Stripe did not classify is an outage, never a decline', () => {
  // stripe-payments.ts:56: only a card error or a 4xx invalid request is a decline. Taking anything
  // else for one fails the order for good while the charge may have gone through.
  const request: ChargeRequest = {
    orderId: '0b7e6a52-3d1f-4a8c-9e2b-5c4d3a2b1f00',
    amountCents: 1200,
    currency: 'usd',
    paymentMethodId: 'pm_card_visa',
    customerId: 'cus_7',
  };

  function paymentsRejectingWith(error: unknown) {
    const client = { paymentIntents: { create: jest.fn().mockRejectedValue(error) } } as unknown as Stripe;
    return stripePayments(() => client);
  }

  test('a 400 idempotency error (the key was reused with other parameters)', async () => {
    const error = Stripe.errors.generateV1Error({
      type: 'idempotency_error',
      message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.',
      statusCode: 400,
    } as never);
    expect(error.type).toBe('StripeIdempotencyError');

    await expect(paymentsRejectingWith(error).charge(request)).rejects.toBeInstanceOf(PaymentProviderError);
  });

  test('a plain Error with no Stripe type (a socket hang-up below the SDK)', async () => {
    await expect(paymentsRejectingWith(new Error('socket hang up')).charge(request)).rejects.toBeInstanceOf(
      PaymentProviderError,
    );
  });
});

describe('reserve: a stock mirror that never loads', () => {
  // reservations.ts:31: three passes (hold, load the mirror, hold again), then 503: never a loop.
  test('answers 503 service_unavailable (Retry-After) after three passes of the hold script', async () => {
    const reserveStock = jest.fn(async () => {
      // Far past two passes: the bug this guards against loops forever; stop it here.
      if (reserveStock.mock.calls.length > 10) throw new Error('reserve() is looping');
      return ['missing', 'sku_gone'];
    });
    const mirrorWrites = jest.fn();
    const redis = {
      defineCommand: () => undefined,
      reserveStock,
      pipeline: () => ({ set: mirrorWrites, exec: async () => [] }),
    } as unknown as RedisClient;
    const tx = { query: async () => ({ rows: [{ product_id: 'sku_gone', quantity: 3 }] }) };
    const db = { transaction: async (work: (t: typeof tx) => unknown) => work(tx) } as unknown as Db;

    const refused = reserve(redis, db, 'order-1', [{ productId: 'sku_gone', quantity: 1 }], 900);
    await expect(refused).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(refused).rejects.toMatchObject({ status: 503, headers: { 'Retry-After': expect.any(String) } });
    expect(reserveStock).toHaveBeenCalledTimes(3);
    // Between the passes the mirror was loaded from PostgreSQL (and, in this Redis, lost again).
    expect(mirrorWrites).toHaveBeenCalledTimes(3);
  });
});
