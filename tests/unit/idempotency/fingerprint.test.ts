import fc from 'fast-check';
import { fingerprint } from '../../../lib/idempotency/fingerprint';

const order = {
  customerId: 'cus_1',
  paymentMethodId: 'pm_card_visa',
  items: [
    { productId: 'sku-a', quantity: 2 },
    { productId: 'sku-b', quantity: 1 },
  ],
};

/** The same value with every object's keys in reverse order, at every depth. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reversedKeys(v)]),
    );
  }
  return value;
}

describe('fingerprint (the request as the idempotency check compares it)', () => {
  test('is a SHA-256 hex digest, the same for the same request every time', () => {
    expect(fingerprint(order)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(structuredClone(order))).toBe(fingerprint(order));
  });

  test('ignores the order of keys in the body, at every depth', () => {
    const reordered = {
      items: [
        { quantity: 2, productId: 'sku-a' },
        { quantity: 1, productId: 'sku-b' },
      ],
      paymentMethodId: 'pm_card_visa',
      customerId: 'cus_1',
    };

    expect(fingerprint(reordered)).toBe(fingerprint(order));
  });

  test('ignores key order for any JSON body (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        expect(fingerprint(reversedKeys(body))).toBe(fingerprint(body));
      }),
    );
  });

  test('a key left undefined is the same request as the key left out (an optional field not sent)', () => {
    expect(fingerprint({ items: undefined, reason: 'duplicate' })).toBe(fingerprint({ reason: 'duplicate' }));
  });

  test.each([
    ['another customer', { ...order, customerId: 'cus_2' }],
    ['another payment method', { ...order, paymentMethodId: 'pm_card_chargeDeclined' }],
    ['another quantity', { ...order, items: [{ productId: 'sku-a', quantity: 3 }, order.items[1]] }],
    ['another product', { ...order, items: [{ productId: 'sku-c', quantity: 2 }, order.items[1]] }],
    ['a line fewer', { ...order, items: [order.items[0]] }],
    ['a line more', { ...order, items: [...order.items, { productId: 'sku-c', quantity: 1 }] }],
    ['the lines in another order', { ...order, items: [order.items[1], order.items[0]] }],
    ['a quantity sent as a string', { ...order, items: [{ productId: 'sku-a', quantity: '2' }, order.items[1]] }],
    ['an extra field', { ...order, note: 'gift' }],
    ['a field null instead of left out', { ...order, note: null }],
  ])('changes with %s', (_, changed) => {
    expect(fingerprint(changed)).not.toBe(fingerprint(order));
  });

  test('changes whenever one quantity changes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ productId: fc.string(), quantity: fc.integer({ min: 1, max: 10_000 }) }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.nat(),
        fc.integer({ min: 1, max: 10_000 }),
        (items, at, delta) => {
          const index = at % items.length;
          const changed = items.map((item, i) => (i === index ? { ...item, quantity: item.quantity + delta } : item));
          expect(fingerprint({ ...order, items: changed })).not.toBe(fingerprint({ ...order, items }));
        },
      ),
    );
  });

  test('keys and values cannot run into each other: {"ab":"c"} and {"a":"bc"} differ, as do ["a,b"] and ["a","b"]', () => {
    expect(fingerprint({ ab: 'c' })).not.toBe(fingerprint({ a: 'bc' }));
    expect(fingerprint(['a,b'])).not.toBe(fingerprint(['a', 'b']));
    expect(fingerprint({ a: { b: 1 } })).not.toBe(fingerprint({ 'a.b': 1 }));
  });
});
