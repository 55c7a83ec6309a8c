import type Stripe from 'stripe';
import type { StripeWebhooks } from '../deps';
import { InvalidRequestError, InvalidSignatureError } from '../errors';

interface RawBody {
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** The bytes Stripe signed: API Gateway may hand them over base64-encoded. */
export function rawBodyOf(event: RawBody): Buffer {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/**
 * Checks the Stripe-Signature header against the raw body with the Stripe SDK (default tolerance,
 * 300 s), trying each configured secret so one can be rotated without downtime. Signed bytes that
 * are not a Stripe event are refused as invalid_request.
 */
export function verifyStripeEvent(
  webhooks: StripeWebhooks,
  payload: Buffer,
  signature: string | undefined,
  secrets: readonly string[],
): Stripe.Event {
  if (!signature) throw new InvalidSignatureError();
  for (const secret of secrets) {
    let event: Stripe.Event;
    try {
      event = webhooks.constructEvent(payload, signature, secret);
    } catch (error) {
      if ((error as { type?: string }).type === 'StripeSignatureVerificationError') continue;
      // The signature matched but the body is not JSON.
      throw new InvalidRequestError('the signed body is not a Stripe event', { field: 'body' });
    }
    const candidate = event as unknown as { id?: unknown; type?: unknown; created?: unknown } | null;
    if (
      !candidate ||
      typeof candidate.id !== 'string' ||
      typeof candidate.type !== 'string' ||
      !isUnixSeconds(candidate.created)
    ) {
      throw new InvalidRequestError('the signed body is not a Stripe event (id, type, created)', { field: 'body' });
    }
    return event;
  }
  throw new InvalidSignatureError();
}

/** A Stripe `created`: whole Unix seconds, positive, and small enough for a PostgreSQL bigint and a JS number. */
function isUnixSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}
