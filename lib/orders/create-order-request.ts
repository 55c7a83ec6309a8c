import { z } from 'zod';

/** Stripe ids and our product ids: short, printable, no surprises in logs or SQL. */
const id = (label: string) =>
  z
    .string({ error: `${label} must be a string` })
    .min(1, `${label} must not be empty`)
    .max(255, `${label} must be at most 255 characters`)
    .regex(/^[\x21-\x7e]+$/, `${label} must be visible ASCII characters`);

/** One line of an order or a refund: a product and a whole quantity from 1 to 10,000. */
export const lineSchema = z.strictObject({
  productId: id('productId'),
  quantity: z
    .number({ error: 'quantity must be a number' })
    .int('quantity must be an integer')
    .min(1, 'quantity must be at least 1')
    .max(10_000, 'quantity must be at most 10000'),
});

export const createOrderRequestSchema = z
  .strictObject({
    customerId: id('customerId'),
    paymentMethodId: id('paymentMethodId'),
    items: z
      .array(lineSchema, { error: 'items must be an array' })
      .min(1, 'items must hold at least 1 item')
      .max(100, 'items must hold at most 100 items'),
  })
  .superRefine((body, ctx) => {
    const seen = new Set<string>();
    body.items.forEach((item, index) => {
      if (seen.has(item.productId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['items', index, 'productId'],
          message: `productId ${item.productId} appears twice`,
        });
      }
      seen.add(item.productId);
    });
  });
