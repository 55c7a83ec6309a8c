import { z } from 'zod';
import { lineSchema } from '../schemas';

export const refundRequestSchema = z.strictObject({
  items: z
    .array(lineSchema, { error: 'items must be an array' })
    .min(1, 'items must hold at least 1 item when given; leave it out to refund everything')
    .max(100, 'items must hold at most 100 items')
    .refine((items) => new Set(items.map((i) => i.productId)).size === items.length, 'each productId may appear once')
    .optional(),
  // The reasons Stripe's refunds API accepts.
  reason: z
    .enum(['requested_by_customer', 'duplicate', 'fraudulent'], {
      error: 'reason must be requested_by_customer, duplicate or fraudulent',
    })
    .optional(),
});

export type RefundRequest = z.infer<typeof refundRequestSchema>;
