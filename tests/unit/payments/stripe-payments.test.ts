import Stripe from 'stripe';
import { ConfigError } from '../../../lib/config';
import { type ChargeRequest, PaymentProviderError, type RefundRequest } from '../../../lib/payments/payments';
import { stripePayments } from '../../../lib/payments/stripe-payments';

/** The few SDK calls the adapter makes, as jest fns: a client object, no module mock. */
function fakeStripe() {
  const calls = {
    paymentIntentsCreate: jest.fn(),
    paymentIntentsRetrieve: jest.fn(),
    paymentIntentsSearch: jest.fn(),
    refundsCreate: jest.fn(),
    refundsList: jest.fn(),
  };
  const client = {
    paymentIntents: {
      create: calls.paymentIntentsCreate,
      retrieve: calls.paymentIntentsRetrieve,
      search: calls.paymentIntentsSearch,
    },
    refunds: { create: calls.refundsCreate, list: calls.refundsList },
  } as unknown as Stripe;
  return { calls, payments: stripePayments(() => client) };
}

/** What the SDK throws for an HTTP error answer: the same mapping from status and body it uses itself. */
function httpError(
  statusCode: number,
  body: { type: string; code?: string; decline_code?: string; message: string; payment_intent?: { id: string } },
) {
  return Stripe.errors.generateV1Error({ ...body, statusCode, requestId: 'req_test' } as never);
}

/** What the SDK throws when it never got an answer (refused, reset, timed out). */
const connectionError = () =>
  new Stripe.errors.StripeConnectionError({
    message: 'An error occurred with our connection to Stripe. Request was retried 1 times.',
  } as never);

const intent = (o: Partial<Stripe.PaymentIntent> & { status: Stripe.PaymentIntent.Status }) =>
  ({ id: 'pi_123', object: 'payment_intent', last_payment_error: null, ...o }) as Stripe.PaymentIntent;

const chargeRequest: ChargeRequest = {
  orderId: '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10',
  amountCents: 2598,
  currency: 'eur',
  paymentMethodId: 'pm_card_visa',
  customerId: 'cus_42',
};

const refundRequest: RefundRequest = {
  paymentIntentId: 'pi_123',
  amountCents: 1299,
  idempotencyKey: 'refund-8b1e0c3f-0d6a-4f3e-a1c2-2b9d8e7f6a5b',
  metadata: { order_id: chargeRequest.orderId, refund_id: '8b1e0c3f-0d6a-4f3e-a1c2-2b9d8e7f6a5b' },
};

/** Errors that say "Stripe cannot answer now", not "this request is wrong": retry later. */
const unavailableErrors: [string, () => Error][] = [
  ['a connection error (refused, reset, timed out)', connectionError],
  ['a 500 api_error', () => httpError(500, { type: 'api_error', message: "Something went wrong on Stripe's end." })],
  ['a 503 of any type', () => httpError(503, { type: 'invalid_request_error', message: 'Service Unavailable' })],
  [
    'a 429 rate limit',
    () => httpError(429, { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests' }),
  ],
  [
    'a 401 authentication error (a revoked key)',
    () => httpError(401, { type: 'invalid_request_error', message: 'Invalid API Key provided' }),
  ],
  [
    'a 403 permission error',
    () => httpError(403, { type: 'invalid_request_error', message: 'The provided key does not have access' }),
  ],
  [
    'an invalid request error with a 5xx status',
    () =>
      new Stripe.errors.StripeInvalidRequestError({
        type: 'invalid_request_error',
        message: 'upstream failure',
        statusCode: 502,
      } as never),
  ],
];

describe('stripePayments.charge', () => {
  test('creates and confirms a card-only PaymentIntent with the order in its metadata and an idempotency key from the order id', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockResolvedValue(intent({ status: 'succeeded' }));

    await payments.charge(chargeRequest);

    expect(calls.paymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(calls.paymentIntentsCreate).toHaveBeenCalledWith(
      {
        amount: 2598,
        currency: 'eur',
        payment_method: 'pm_card_visa',
        confirm: true,
        automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
        metadata: { order_id: chargeRequest.orderId, customer_id: 'cus_42' },
      },
      { idempotencyKey: `order-${chargeRequest.orderId}-payment` },
    );
  });

  test.each([
    ['succeeded', intent({ status: 'succeeded' }), { kind: 'succeeded', paymentIntentId: 'pi_123' }],
    [
      'processing: a webhook settles it',
      intent({ status: 'processing' }),
      { kind: 'pending', paymentIntentId: 'pi_123', status: 'processing' },
    ],
    [
      'requires_action (3-D Secure)',
      intent({ status: 'requires_action' }),
      { kind: 'pending', paymentIntentId: 'pi_123', status: 'requires_action' },
    ],
    [
      'requires_payment_method: declined with the decline code and message of its last error',
      intent({
        status: 'requires_payment_method',
        last_payment_error: {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'insufficient_funds',
          message: 'Your card has insufficient funds.',
        },
      }),
      {
        kind: 'declined',
        paymentIntentId: 'pi_123',
        declineCode: 'insufficient_funds',
        message: 'Your card has insufficient funds.',
        status: 'requires_payment_method',
      },
    ],
    [
      'requires_payment_method with an error code and no decline code: the code',
      intent({
        status: 'requires_payment_method',
        last_payment_error: { type: 'card_error', code: 'expired_card', message: 'Your card has expired.' },
      }),
      {
        kind: 'declined',
        paymentIntentId: 'pi_123',
        declineCode: 'expired_card',
        message: 'Your card has expired.',
        status: 'requires_payment_method',
      },
    ],
    [
      'canceled with no last error: declined, no code, says so',
      intent({ status: 'canceled' }),
      {
        kind: 'declined',
        paymentIntentId: 'pi_123',
        declineCode: null,
        message: 'the payment is canceled',
        status: 'canceled',
      },
    ],
  ])('a PaymentIntent that is %s', async (_, answered, outcome) => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockResolvedValue(answered);

    await expect(payments.charge(chargeRequest)).resolves.toEqual(outcome);
  });

  test('a card error (402) is a decline with the PaymentIntent it made, its decline code and message', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockRejectedValue(
      httpError(402, {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'stolen_card',
        message: 'Your card was declined.',
        payment_intent: { id: 'pi_declined' },
      }),
    );

    await expect(payments.charge(chargeRequest)).resolves.toEqual({
      kind: 'declined',
      paymentIntentId: 'pi_declined',
      declineCode: 'stolen_card',
      message: 'Your card was declined.',
    });
  });

  test('an invalid request (400: the payment method cannot be used) is a decline with its code, no PaymentIntent', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsCreate.mockRejectedValue(
      httpError(400, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: "No such PaymentMethod: 'pm_gone'",
      }),
    );

    await expect(payments.charge(chargeRequest)).resolves.toEqual({
      kind: 'declined',
      paymentIntentId: null,
      declineCode: 'resource_missing',
      message: "No such PaymentMethod: 'pm_gone'",
    });
  });

  test.each(unavailableErrors)(
    '%s is PaymentProviderError (provider unavailable), carrying the SDK error',
    async (_, error) => {
      const { calls, payments } = fakeStripe();
      const thrown = error();
      calls.paymentIntentsCreate.mockRejectedValue(thrown);

      const failure = await payments.charge(chargeRequest).catch((e: unknown) => e);

      expect(failure).toBeInstanceOf(PaymentProviderError);
      expect((failure as PaymentProviderError).cause).toBe(thrown);
    },
  );

  test('a client that cannot be built (no secret key) fails as itself, not as an outage', async () => {
    const payments = stripePayments(() => {
      throw new ConfigError('invalid configuration: STRIPE_SECRET_KEY is required to call Stripe');
    });

    await expect(payments.charge(chargeRequest)).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('stripePayments.findCharge', () => {
  test('with a stored PaymentIntent id, retrieves that PaymentIntent and classifies it', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsRetrieve.mockResolvedValue(intent({ id: 'pi_stored', status: 'requires_action' }));

    await expect(payments.findCharge(chargeRequest.orderId, 'pi_stored')).resolves.toEqual({
      kind: 'pending',
      paymentIntentId: 'pi_stored',
      status: 'requires_action',
    });
    expect(calls.paymentIntentsRetrieve).toHaveBeenCalledWith('pi_stored');
    expect(calls.paymentIntentsSearch).not.toHaveBeenCalled();
  });

  test("without one, searches by metadata['order_id']; nothing found is null", async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsSearch
      .mockResolvedValueOnce({ data: [intent({ id: 'pi_found', status: 'succeeded' })] })
      .mockResolvedValueOnce({ data: [] });

    await expect(payments.findCharge(chargeRequest.orderId, null)).resolves.toEqual({
      kind: 'succeeded',
      paymentIntentId: 'pi_found',
    });
    await expect(payments.findCharge(chargeRequest.orderId, null)).resolves.toBeNull();
    expect(calls.paymentIntentsSearch).toHaveBeenCalledWith({
      query: `metadata['order_id']:'${chargeRequest.orderId}'`,
      limit: 1,
    });
  });

  test('any error while looking is PaymentProviderError: an unknown answer is never "no charge"', async () => {
    const { calls, payments } = fakeStripe();
    calls.paymentIntentsSearch.mockRejectedValue(connectionError());
    calls.paymentIntentsRetrieve.mockRejectedValue(
      httpError(404, { type: 'invalid_request_error', code: 'resource_missing', message: 'No such payment_intent' }),
    );

    await expect(payments.findCharge(chargeRequest.orderId, null)).rejects.toBeInstanceOf(PaymentProviderError);
    await expect(payments.findCharge(chargeRequest.orderId, 'pi_x')).rejects.toBeInstanceOf(PaymentProviderError);
  });
});

describe('stripePayments.refund', () => {
  test('sends payment_intent, amount and metadata with our idempotency key, and no reason when none was given', async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsCreate.mockResolvedValue({ id: 're_1', object: 'refund', status: 'pending' });

    const outcome = await payments.refund(refundRequest);

    expect(outcome).toEqual({ kind: 'sent', refundId: 're_1', status: 'pending' });
    expect(calls.refundsCreate).toHaveBeenCalledWith(
      { payment_intent: 'pi_123', amount: 1299, metadata: refundRequest.metadata },
      { idempotencyKey: refundRequest.idempotencyKey },
    );
  });

  test('sends the reason when one was given', async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsCreate.mockResolvedValue({ id: 're_2', object: 'refund', status: 'succeeded' });

    await payments.refund({ ...refundRequest, reason: 'duplicate' });

    expect(calls.refundsCreate).toHaveBeenCalledWith(
      { payment_intent: 'pi_123', amount: 1299, reason: 'duplicate', metadata: refundRequest.metadata },
      { idempotencyKey: refundRequest.idempotencyKey },
    );
  });

  test.each([
    [
      'a 400 invalid request (charge_already_refunded)',
      () =>
        httpError(400, {
          type: 'invalid_request_error',
          code: 'charge_already_refunded',
          message: 'Charge ch_1 has already been refunded.',
        }),
      { kind: 'rejected', code: 'charge_already_refunded', message: 'Charge ch_1 has already been refunded.' },
    ],
    [
      'a 400 idempotency error (the key was used with other parameters)',
      () =>
        httpError(400, {
          type: 'idempotency_error',
          code: 'idempotency_key_in_use',
          message: 'Keys for idempotent requests can only be used with the same parameters.',
        }),
      {
        kind: 'rejected',
        code: 'idempotency_key_in_use',
        message: 'Keys for idempotent requests can only be used with the same parameters.',
      },
    ],
    [
      'a 402 card-side refusal',
      () => httpError(402, { type: 'card_error', code: 'expired_card', message: 'The card has expired.' }),
      { kind: 'rejected', code: 'expired_card', message: 'The card has expired.' },
    ],
  ])('%s is rejected for good with Stripe code and message', async (_, error, outcome) => {
    const { calls, payments } = fakeStripe();
    calls.refundsCreate.mockRejectedValue(error());

    await expect(payments.refund(refundRequest)).resolves.toEqual(outcome);
  });

  test('an idempotency error without a code is still rejected for good', async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsCreate.mockRejectedValue(
      httpError(400, {
        type: 'idempotency_error',
        message: 'Keys for idempotent requests can only be used with the same parameters.',
      }),
    );

    await expect(payments.refund(refundRequest)).resolves.toMatchObject({ kind: 'rejected' });
  });

  test.each(unavailableErrors)('%s is PaymentProviderError: the refund stays pending for a retry', async (_, error) => {
    const { calls, payments } = fakeStripe();
    calls.refundsCreate.mockRejectedValue(error());

    await expect(payments.refund(refundRequest)).rejects.toBeInstanceOf(PaymentProviderError);
  });
});

describe('stripePayments.findRefund', () => {
  const refund = (id: string, refundId: string | undefined, status: string) =>
    ({
      id,
      object: 'refund',
      status,
      metadata: refundId === undefined ? {} : { refund_id: refundId },
    }) as Stripe.Refund;

  test("lists the PaymentIntent's refunds (largest page) and picks the one whose metadata.refund_id is ours", async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsList.mockResolvedValue({
      data: [
        refund('re_other', 'another-row', 'succeeded'),
        refund('re_none', undefined, 'succeeded'),
        refund('re_ours', 'our-row', 'pending'),
      ],
    });

    await expect(payments.findRefund('pi_123', 'our-row')).resolves.toEqual({ refundId: 're_ours', status: 'pending' });
    expect(calls.refundsList).toHaveBeenCalledWith({ payment_intent: 'pi_123', limit: 100 });
  });

  test('ignores a failed or canceled refund of ours: that money was not given back', async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsList
      .mockResolvedValueOnce({
        data: [refund('re_failed', 'our-row', 'failed'), refund('re_canceled', 'our-row', 'canceled')],
      })
      .mockResolvedValueOnce({
        data: [refund('re_failed', 'our-row', 'failed'), refund('re_retried', 'our-row', 'succeeded')],
      });

    await expect(payments.findRefund('pi_123', 'our-row')).resolves.toBeNull();
    await expect(payments.findRefund('pi_123', 'our-row')).resolves.toEqual({
      refundId: 're_retried',
      status: 'succeeded',
    });
  });

  test('an error while listing is PaymentProviderError, never "no refund"', async () => {
    const { calls, payments } = fakeStripe();
    calls.refundsList.mockRejectedValue(connectionError());

    await expect(payments.findRefund('pi_123', 'our-row')).rejects.toBeInstanceOf(PaymentProviderError);
  });
});
