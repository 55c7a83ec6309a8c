import { refundRequestSchema } from '../../../lib/orders/refund-request';
import { UUID } from '../../../lib/schemas';
import { parseOrThrow } from '../../../lib/validation';

/** The invalid_request a body gets: its field and message, or 'valid'. */
function verdict(body: unknown): { field: unknown; message: string } | 'valid' {
  try {
    parseOrThrow(refundRequestSchema, body);
    return 'valid';
  } catch (error) {
    const e = error as { code?: string; details?: { field?: unknown }; message: string };
    if (e.code !== 'invalid_request') throw error;
    return { field: e.details?.field, message: e.message };
  }
}

const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ productId: `sku-${i}`, quantity: 1 }));

describe('POST /orders/{orderId}/refunds body (refundRequestSchema)', () => {
  test('an empty body refunds everything: no items, no reason', () => {
    expect(parseOrThrow(refundRequestSchema, {})).toEqual({});
  });

  test('lines and a reason parse to themselves', () => {
    const body = { items: [{ productId: 'sku-a', quantity: 2 }], reason: 'requested_by_customer' };

    expect(parseOrThrow(refundRequestSchema, body)).toEqual(body);
  });

  test.each(['requested_by_customer', 'duplicate', 'fraudulent'])('accepts the Stripe reason %s', (reason) => {
    expect(verdict({ reason })).toBe('valid');
  });

  test('accepts 100 lines', () => {
    expect(verdict({ items: lines(100) })).toBe('valid');
  });

  test.each([
    ['a body that is not an object', 'everything', 'body', 'body: Invalid input: expected object, received string'],
    ['an unknown field (an amount)', { amountCents: 100 }, 'body', 'body: Unrecognized key: "amountCents"'],
    ['items that are not an array', { items: null }, 'items', 'items: items must be an array'],
    [
      'an empty list of items',
      { items: [] },
      'items',
      'items: items must hold at least 1 item when given; leave it out to refund everything',
    ],
    ['101 lines', { items: lines(101) }, 'items', 'items: items must hold at most 100 items'],
    [
      'a product on two lines',
      {
        items: [
          { productId: 'sku-a', quantity: 1 },
          { productId: 'sku-a', quantity: 1 },
        ],
      },
      'items',
      'items: each productId may appear once',
    ],
    [
      'a line with a quantity of 0',
      { items: [{ productId: 'sku-a', quantity: 0 }] },
      'items[0].quantity',
      'items[0].quantity: quantity must be at least 1',
    ],
    [
      'a line with an empty productId',
      { items: [{ productId: '', quantity: 1 }] },
      'items[0].productId',
      'items[0].productId: productId must not be empty',
    ],
    [
      'a line with an unknown field',
      { items: [{ productId: 'sku-a', quantity: 1, amountCents: 5 }] },
      'items[0]',
      'items[0]: Unrecognized key: "amountCents"',
    ],
    [
      'a reason Stripe does not accept',
      { reason: 'out_of_stock_after_payment' },
      'reason',
      'reason: reason must be requested_by_customer, duplicate or fraudulent',
    ],
    [
      'a reason that is not a string',
      { reason: 1 },
      'reason',
      'reason: reason must be requested_by_customer, duplicate or fraudulent',
    ],
  ])('refuses %s: invalid_request naming the field', (_, body, field, message) => {
    expect(verdict(body)).toEqual({ field, message });
  });
});

describe('UUID (what can name an order)', () => {
  test.each(['3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10', '3F7C2A9E-1B4D-4C8E-9F2A-6D5B4C3A2E10'])('matches %s', (id) => {
    expect(UUID.test(id)).toBe(true);
  });

  test.each([
    ['an empty string', ''],
    ['a UUID without dashes', '3f7c2a9e1b4d4c8e9f2a6d5b4c3a2e10'],
    ['a UUID one character short', '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e1'],
    ['a UUID with a trailing newline', '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10\n'],
    ['a UUID with text after it', '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10x'],
    ['a non-hex character', '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e1g'],
    ['SQL', "' OR 1=1 --"],
  ])('does not match %s', (_, id) => {
    expect(UUID.test(id)).toBe(false);
  });
});
