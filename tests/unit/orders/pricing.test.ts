import { AmountTooLargeError, MixedCurrencyError, UnknownProductError } from '../../../lib/errors';
import type { PricedLine } from '../../../lib/orders/order-store';
import { checkPrices } from '../../../lib/orders/pricing';

const priced = (
  productId: string,
  quantity: number,
  unitPriceCents: number | null,
  currency: string | null = unitPriceCents === null ? null : 'eur',
): PricedLine => ({
  productId,
  quantity,
  unitPriceCents,
  currency,
});

/** The error `run` throws (fails the test when it throws none). */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('checkPrices (the catalogue verdict on an order, before it is charged)', () => {
  test('the amount is the sum of quantity x catalogue unit price, in the catalogue currency; lines keep their prices', () => {
    const result = checkPrices([priced('sku-a', 2, 1299), priced('sku-b', 3, 500), priced('sku-c', 1, 1)]);

    expect(result).toEqual({
      currency: 'eur',
      amountCents: 2 * 1299 + 3 * 500 + 1,
      lines: [
        { productId: 'sku-a', quantity: 2, unitPriceCents: 1299 },
        { productId: 'sku-b', quantity: 3, unitPriceCents: 500 },
        { productId: 'sku-c', quantity: 1, unitPriceCents: 1 },
      ],
    });
  });

  test('a free product counts as known (price 0), not as unknown', () => {
    expect(checkPrices([priced('sku-gift', 1, 0), priced('sku-a', 1, 700)])).toMatchObject({
      amountCents: 700,
      currency: 'eur',
    });
  });

  test('a product not in the catalogue is unknown_product (422) naming the first such product', () => {
    const error = thrownBy(() =>
      checkPrices([priced('sku-a', 1, 100), priced('sku-gone', 1, null), priced('sku-also-gone', 1, null)]),
    );

    expect(error).toBeInstanceOf(UnknownProductError);
    expect(error).toMatchObject({ code: 'unknown_product', status: 422, details: { productId: 'sku-gone' } });
  });

  test('items in two currencies are mixed_currency (422) listing both', () => {
    const error = thrownBy(() =>
      checkPrices([priced('sku-a', 1, 100, 'eur'), priced('sku-b', 1, 100, 'usd'), priced('sku-c', 1, 100, 'eur')]),
    );

    expect(error).toBeInstanceOf(MixedCurrencyError);
    expect(error).toMatchObject({ code: 'mixed_currency', status: 422, details: { currencies: ['eur', 'usd'] } });
  });

  test('a total of exactly 99,999,999 minor units (Stripe largest card amount) is accepted', () => {
    expect(checkPrices([priced('sku-a', 9, 11_111_111)]).amountCents).toBe(99_999_999);
  });

  test('one minor unit more is amount_too_large (422) with the total and the limit', () => {
    const error = thrownBy(() => checkPrices([priced('sku-a', 9, 11_111_111), priced('sku-b', 1, 1)]));

    expect(error).toBeInstanceOf(AmountTooLargeError);
    expect(error).toMatchObject({
      code: 'amount_too_large',
      status: 422,
      details: { amountCents: 100_000_000, maxAmountCents: 99_999_999 },
    });
  });

  test('a total far beyond the limit is refused, not wrapped or rounded: 10,000 x 10,000,000', () => {
    expect(thrownBy(() => checkPrices([priced('sku-a', 10_000, 10_000_000)]))).toMatchObject({
      details: { amountCents: 100_000_000_000 },
    });
  });
});
