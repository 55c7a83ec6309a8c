import { z } from 'zod';

export const cancelRequestSchema = z.strictObject({
  // The reasons Stripe accepts from us for both a PaymentIntent's cancel and a refund.
  reason: z
    .enum(['requested_by_customer', 'duplicate', 'fraudulent'], {
      error: 'reason must be requested_by_customer, duplicate or fraudulent',
    })
    .optional(),
});

export type CancelRequest = z.infer<typeof cancelRequestSchema>;
