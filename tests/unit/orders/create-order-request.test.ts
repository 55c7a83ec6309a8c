import { createOrderRequestSchema } from '../../../lib/orders/create-order-request';
import { parseOrThrow } from '../../../lib/validation';

const valid = {
  customerId: 'cus_42',
  paymentMethodId: 'pm_card_visa',
  items: [
    { productId: 'sku-a', quantity: 2 },
    { productId: 'sku-b', quantity: 1 },
  ],
};

/** The invalid_request a body gets: its field and message, or 'valid'. */
function verdict(body: unknown): { field: unknown; message: string } | 'valid' {
  try {
    parseOrThrow(createOrderRequestSchema, body);
    return 'valid';
  } catch (error) {
    const e = error as { code?: string; details?: { field?: unknown }; message: string };
    if (e.code !== 'invalid_request') throw error;
    return { field: e.details?.field, message: e.message };
  }
}

const line = (o: Record<string, unknown>) => ({ ...valid, items: [{ productId: 'sku-a', quantity: 1, ...o }] });
const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ productId: `sku-${i}`, quantity: 1 }));

describe('POST /orders body (createOrderRequestSchema)', () => {
  test('a valid order parses to itself', () => {
    expect(parseOrThrow(createOrderRequestSchema, valid)).toEqual(valid);
  });

  test.each([
    [
      'the limits: ids of 255 visible characters, 100 lines, quantities 1 and 10000',
      {
        customerId: 'c'.repeat(255),
        paymentMethodId: '!~',
        items: [...lines(99), { productId: 'p'.repeat(255), quantity: 10_000 }],
      },
    ],
    ['a line of quantity 1', line({ quantity: 1 })],
  ])('accepts %s', (_, body) => {
    expect(verdict(body)).toBe('valid');
  });

  test.each([
    ['a body that is not an object', null, 'body', 'body: Invalid input: expected object, received null'],
    ['a body that is an array', [valid], 'body', 'body: Invalid input: expected object, received array'],
    [
      'an unknown field (a client-sent price or coupon)',
      { ...valid, amount: 1 },
      'body',
      'body: Unrecognized key: "amount"',
    ],
    ['no customerId', { ...valid, customerId: undefined }, 'customerId', 'customerId: customerId must be a string'],
    ['a numeric customerId', { ...valid, customerId: 42 }, 'customerId', 'customerId: customerId must be a string'],
    ['an empty customerId', { ...valid, customerId: '' }, 'customerId', 'customerId: customerId must not be empty'],
    [
      'a customerId of 256 characters',
      { ...valid, customerId: 'c'.repeat(256) },
      'customerId',
      'customerId: customerId must be at most 255 characters',
    ],
    [
      'a customerId with a space',
      { ...valid, customerId: 'cus 42' },
      'customerId',
      'customerId: customerId must be visible ASCII characters',
    ],
    [
      'a customerId with a non-ASCII letter',
      { ...valid, customerId: 'cüs' },
      'customerId',
      'customerId: customerId must be visible ASCII characters',
    ],
    [
      'no paymentMethodId',
      { ...valid, paymentMethodId: undefined },
      'paymentMethodId',
      'paymentMethodId: paymentMethodId must be a string',
    ],
    [
      'an empty paymentMethodId',
      { ...valid, paymentMethodId: '' },
      'paymentMethodId',
      'paymentMethodId: paymentMethodId must not be empty',
    ],
    [
      'a paymentMethodId with a newline',
      { ...valid, paymentMethodId: 'pm\n1' },
      'paymentMethodId',
      'paymentMethodId: paymentMethodId must be visible ASCII characters',
    ],
    ['no items', { ...valid, items: undefined }, 'items', 'items: items must be an array'],
    [
      'items that are an object',
      { ...valid, items: { productId: 'sku-a', quantity: 1 } },
      'items',
      'items: items must be an array',
    ],
    ['no lines', { ...valid, items: [] }, 'items', 'items: items must hold at least 1 item'],
    ['101 lines', { ...valid, items: lines(101) }, 'items', 'items: items must hold at most 100 items'],
    [
      'a line that is not an object',
      { ...valid, items: [null] },
      'items[0]',
      'items[0]: Invalid input: expected object, received null',
    ],
    [
      'an unknown field in a line (a client-sent price)',
      line({ unitPriceCents: 1 }),
      'items[0]',
      'items[0]: Unrecognized key: "unitPriceCents"',
    ],
    [
      'a line with no productId',
      line({ productId: undefined }),
      'items[0].productId',
      'items[0].productId: productId must be a string',
    ],
    [
      'an empty productId',
      line({ productId: '' }),
      'items[0].productId',
      'items[0].productId: productId must not be empty',
    ],
    [
      'a productId of 256 characters',
      line({ productId: 'p'.repeat(256) }),
      'items[0].productId',
      'items[0].productId: productId must be at most 255 characters',
    ],
    [
      'a productId with a space',
      line({ productId: 'sku a' }),
      'items[0].productId',
      'items[0].productId: productId must be visible ASCII characters',
    ],
    ['no quantity', line({ quantity: undefined }), 'items[0].quantity', 'items[0].quantity: quantity must be a number'],
    [
      'a quantity as a string',
      line({ quantity: '2' }),
      'items[0].quantity',
      'items[0].quantity: quantity must be a number',
    ],
    [
      'a fractional quantity',
      line({ quantity: 1.5 }),
      'items[0].quantity',
      'items[0].quantity: quantity must be an integer',
    ],
    ['a quantity of 0', line({ quantity: 0 }), 'items[0].quantity', 'items[0].quantity: quantity must be at least 1'],
    [
      'a negative quantity',
      line({ quantity: -1 }),
      'items[0].quantity',
      'items[0].quantity: quantity must be at least 1',
    ],
    [
      'a quantity of 10001',
      line({ quantity: 10_001 }),
      'items[0].quantity',
      'items[0].quantity: quantity must be at most 10000',
    ],
    [
      'a product on two lines (the second named)',
      { ...valid, items: [...valid.items, { productId: 'sku-a', quantity: 1 }] },
      'items[2].productId',
      'items[2].productId: productId sku-a appears twice',
    ],
  ])('refuses %s: invalid_request naming the field', (_, body, field, message) => {
    expect(verdict(body)).toEqual({ field, message });
  });
});
