import { z } from 'zod';
import { idSchema as id, lineSchema } from '../schemas';

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
