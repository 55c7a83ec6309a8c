import type Stripe from 'stripe';

/**
 * The `stripe` module is the only mock in the suite. Its resources are created in the SDK's
 * constructor (jest's automock cannot see them), so the factory builds a client whose calls are these
 * jest fns. Webhook verification delegates to the real SDK: signatures are really checked.
 */
export const mockPaymentIntentsCreate = jest.fn();
export const mockPaymentIntentsSearch = jest.fn();
export const mockPaymentIntentsRetrieve = jest.fn();
export const mockPaymentIntentsCancel = jest.fn();
export const mockRefundsCreate = jest.fn();
export const mockRefundsList = jest.fn();
export const mockConstructEvent = jest.fn();

jest.mock('stripe', () => {
  const actual = jest.requireActual('stripe');
  const Actual = actual.default ?? actual;
  const webhooks = {
    constructEvent: mockConstructEvent.mockImplementation((...args: unknown[]) =>
      (Actual.webhooks.constructEvent as (...a: unknown[]) => unknown).apply(Actual.webhooks, args),
    ),
    generateTestHeaderString: Actual.webhooks.generateTestHeaderString.bind(Actual.webhooks),
  };
  function MockStripe() {
    return {
      paymentIntents: {
        create: mockPaymentIntentsCreate,
        search: mockPaymentIntentsSearch,
        retrieve: mockPaymentIntentsRetrieve,
        cancel: mockPaymentIntentsCancel,
      },
      refunds: { create: mockRefundsCreate, list: mockRefundsList },
      webhooks,
    };
  }
  Object.assign(MockStripe, { errors: Actual.errors, webhooks });
  return { __esModule: true, default: MockStripe, Stripe: MockStripe };
});

/** The mocked module's static side (`Stripe.webhooks`), as lib/deps uses it. */
export function mockedStripeModule(): typeof Stripe {
  return (require('stripe') as { default: typeof Stripe }).default;
}

/** A client built from the mocked module, as lib/payments builds one: `new Stripe(key)`. */
export function mockedStripe(): Stripe {
  const StripeModule = require('stripe') as { default: new (key: string) => Stripe };
  return new StripeModule.default('sk_test_mocked_never_sent');
}

export function resetStripeMocks(): void {
  for (const fn of [
    mockPaymentIntentsCreate,
    mockPaymentIntentsSearch,
    mockPaymentIntentsRetrieve,
    mockPaymentIntentsCancel,
    mockRefundsCreate,
    mockRefundsList,
  ])
    fn.mockReset();
  mockConstructEvent.mockClear();
  // Unless a test says otherwise, no earlier attempt has made a PaymentIntent.
  mockPaymentIntentsSearch.mockResolvedValue({
    object: 'search_result',
    data: [],
    has_more: false,
    next_page: null,
    url: '/v1/payment_intents/search',
  });
  // ... nor has Stripe any refund the service did not hear of.
  mockRefundsList.mockResolvedValue({ object: 'list', data: [], has_more: false, url: '/v1/refunds' });
}
