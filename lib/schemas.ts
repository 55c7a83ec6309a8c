import { z } from 'zod';

/** Schemas more than one request shares. */

/** Order ids are UUIDs: anything else cannot name an order (404, not a database error). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Stripe ids and our product ids: short, printable, no surprises in logs or SQL. */
export const idSchema = (label: string) =>
  z
    .string({ error: `${label} must be a string` })
    .min(1, `${label} must not be empty`)
    .max(255, `${label} must be at most 255 characters`)
    .regex(/^[\x21-\x7e]+$/, `${label} must be visible ASCII characters`);

/**
 * What a signed Stripe object may carry into PostgreSQL: amounts that fit an `integer` column (minor
 * units, at most 2^31 - 1), text without NUL (PostgreSQL's text and jsonb refuse it) and of a sane
 * length, Unix seconds of a real date. A signed event outside these is refused (400), never a 500.
 */
export const cents = z.number().int().min(0).max(2_147_483_647);
export const storedText = z
  .string()
  .max(5000)
  .refine((s) => !s.includes('\u0000'), 'no NUL characters');
export const unixSeconds = z.number().int().positive().max(253_402_300_799);

/** One line of an order or a refund: a product and a whole quantity from 1 to 10,000. */
export const lineSchema = z.strictObject({
  productId: idSchema('productId'),
  quantity: z
    .number({ error: 'quantity must be a number' })
    .int('quantity must be an integer')
    .min(1, 'quantity must be at least 1')
    .max(10_000, 'quantity must be at most 10000'),
});
