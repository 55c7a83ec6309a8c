import { AmountTooLargeError, MAX_AMOUNT_CENTS, MixedCurrencyError, UnknownProductError } from '../errors';
import type { PricedLine } from './order-store';

export interface PricedOrder {
  currency: string;
  amountCents: number;
  lines: { productId: string; quantity: number; unitPriceCents: number }[];
}

/**
 * The catalogue's verdict on an order's lines, priced by PostgreSQL (never by the client): every
 * product known, one currency, a total a card payment may have. The insert that priced them wrote
 * nothing when any of these refuse them.
 */
export function checkPrices(lines: PricedLine[]): PricedOrder {
  const unknown = lines.find((l) => l.unitPriceCents === null);
  if (unknown) throw new UnknownProductError(unknown.productId);
  const currencies = [...new Set(lines.map((l) => l.currency as string))];
  if (currencies.length > 1) throw new MixedCurrencyError(currencies);
  const amountCents = lines.reduce((sum, l) => sum + l.quantity * (l.unitPriceCents as number), 0);
  if (amountCents > MAX_AMOUNT_CENTS) throw new AmountTooLargeError(amountCents);
  return {
    currency: currencies[0] as string,
    amountCents,
    lines: lines.map(({ productId, quantity, unitPriceCents }) => ({
      productId,
      quantity,
      unitPriceCents: unitPriceCents as number,
    })),
  };
}
