import Stripe from 'stripe';
import { type ChargeRequest, PaymentProviderError } from '../../lib/payments/payments';
import { stripePayments } from '../../lib/payments/stripe-payments';

/**
 * Written for mutation testing (MUTATION.md): where a Stripe error stops being a decline and becomes
 * "Stripe cannot answer now". A decline fails the order for good and its hold goes back; an outage
 * leaves it pending for the retry. Taking an outage for a decline would fail an order whose charge
 * may still succeed at Stripe.
 */
function fakeStripe() {
  const calls = {
    paymentIntentsCreate: jest.fn(),
    paymentIntentsRetrieve: jest.fn(),
    paymentIntentsSearch: jest.fn(),
    refundsList: jest.fn(),
  };
  const client = {
    paymentIntents: {
      create: calls.paymentIntentsCreate,
      retrieve: calls.paymentIntentsRetrieve,
      search: calls.paymentIntentsSearch,
    },
    refunds: { list: calls.refundsList },
  } as unknown as Stripe;
  return { calls, payments: stripePayments(() => client) };
}

const chargeRequest: ChargeRequest = {
  orderId: '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10',
  amountCents: 2598,
  currency: 'eur',
  paymentMethodId: 'pm_card_visa',
  customerId: 'cus_42',
};

describe('stripePayments.charge: decline or outage', () => {
  test("an idempotency error (409: this order's charge is still in flight at Stripe) is an outage, not a decline", async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockRejectedValue(
      Stripe.errors.generateV1Error({
        type: 'idempotency_error',
        code: 'idempotency_key_in_use',
        message: 'There is currently another in-progress request using this Idempotent Key.',
        statusCode: 409,
      } as never),
    );

    await expect(payments.charge(chargeRequest)).rejects.toBeInstanceOf(PaymentProviderError);
  });

  test('an invalid request answered with HTTP 500 is an outage, not a decline', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockRejectedValue(
      new Stripe.errors.StripeInvalidRequestError({
        type: 'invalid_request_error',
        message: 'upstream failure',
        statusCode: 500,
      } as never),
    );

    await expect(payments.charge(chargeRequest)).rejects.toBeInstanceOf(PaymentProviderError);
  });

  test("a card error without Stripe's message is declined with 'the payment was declined'", async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockRejectedValue({ type: 'StripeCardError', code: 'card_declined' });

    await expect(payments.charge(chargeRequest)).resolves.toEqual({
      kind: 'declined',
      paymentIntentId: null,
      declineCode: 'card_declined',
      message: 'the payment was declined',
    });
  });
});

describe('stripePayments lookups: the error an operator reads when Stripe cannot answer', () => {
  // A lookup that fails reaches the webhook's error mapping, which logs it before answering 503.
  test("says 'Stripe:' and what Stripe's SDK said", async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsRetrieve.mockRejectedValue(
      new Stripe.errors.StripeConnectionError({ message: 'An error occurred with our connection to Stripe.' } as never),
    );
    calls.refundsList.mockRejectedValue(
      new Stripe.errors.StripeAPIError({ message: "Something went wrong on Stripe's end.", statusCode: 500 } as never),
    );

    await expect(payments.findCharge(chargeRequest.orderId, 'pi_1')).rejects.toMatchObject({
      name: 'PaymentProviderError',
      message: 'Stripe: An error occurred with our connection to Stripe.',
    });
    await expect(payments.findRefund('pi_1', 'refund-1')).rejects.toMatchObject({
      name: 'PaymentProviderError',
      message: "Stripe: Something went wrong on Stripe's end.",
    });
  });

  test("an error without a message says 'Stripe: request failed'", async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsSearch.mockRejectedValue({});

    await expect(payments.findCharge(chargeRequest.orderId, null)).rejects.toMatchObject({
      name: 'PaymentProviderError',
      message: 'Stripe: request failed',
    });
  });
});
