import Stripe from 'stripe';
import { DomainError, InvalidRequestError, InvalidSignatureError } from '../../../lib/errors';
import { rawBodyOf, verifyStripeEvent } from '../../../lib/payments/verify-event';

const SECRET = 'whsec_unit_current_0123456789';
const OLD_SECRET = 'whsec_unit_previous_9876543210';
const SECRETS = [SECRET, OLD_SECRET];

const now = () => Math.floor(Date.now() / 1000);

/** Signs `payload` exactly as Stripe does, with the real SDK's test helper. */
const sign = (payload: string, o: { secret?: string; timestamp?: number } = {}) =>
  Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: o.secret ?? SECRET,
    ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
  });

const event = (o: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'evt_1',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: 1_700_000_000,
    data: { object: { id: 'pi_1' } },
    ...o,
  });

/** Runs the check with the real SDK's webhooks; returns the event or the error it threw. */
function verify(
  payload: string,
  signature: string | undefined,
  secrets: readonly string[] = SECRETS,
): Stripe.Event | DomainError {
  try {
    return verifyStripeEvent(Stripe.webhooks, Buffer.from(payload), signature, secrets);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
}

describe('verifyStripeEvent', () => {
  test('a correctly signed event is returned as Stripe sent it', () => {
    const payload = event();

    expect(verify(payload, sign(payload))).toEqual(JSON.parse(payload));
  });

  test('an event signed with the second secret of the list is accepted (rotation)', () => {
    const payload = event();

    expect(verify(payload, sign(payload, { secret: OLD_SECRET }))).toEqual(JSON.parse(payload));
  });

  test.each([
    ['signed with a secret not in the list', () => verify(event(), sign(event(), { secret: 'whsec_attacker' }))],
    ['a body changed after signing', () => verify(event({ created: 1_700_000_001 }), sign(event()))],
    ['no Stripe-Signature header', () => verify(event(), undefined)],
    ['an empty Stripe-Signature header', () => verify(event(), '')],
    ['a header that is not a Stripe signature', () => verify(event(), 'not-a-signature')],
    ['a signature older than the 300 s tolerance', () => verify(event(), sign(event(), { timestamp: now() - 301 }))],
    ['no secret configured to check against', () => verify(event(), sign(event()), [])],
  ])('%s is invalid_signature (401)', (_, run) => {
    const result = run();

    expect(result).toBeInstanceOf(InvalidSignatureError);
    expect(result).toMatchObject({ code: 'invalid_signature', status: 401 });
  });

  test('a signature just inside the tolerance is accepted', () => {
    const payload = event();

    expect(verify(payload, sign(payload, { timestamp: now() - 240 }))).toEqual(JSON.parse(payload));
  });

  test.each([
    ['not JSON', 'this is not json', 'the signed body is not a Stripe event'],
    ['JSON null', 'null', 'the signed body is not a Stripe event (id, type, created)'],
    ['an event with no id', event({ id: undefined }), 'the signed body is not a Stripe event (id, type, created)'],
    [
      'an event whose id is not a string',
      event({ id: 42 }),
      'the signed body is not a Stripe event (id, type, created)',
    ],
    ['an event with no type', event({ type: undefined }), 'the signed body is not a Stripe event (id, type, created)'],
    [
      'an event with no created',
      event({ created: undefined }),
      'the signed body is not a Stripe event (id, type, created)',
    ],
    [
      'created as a string',
      event({ created: '1700000000' }),
      'the signed body is not a Stripe event (id, type, created)',
    ],
    ['created 0', event({ created: 0 }), 'the signed body is not a Stripe event (id, type, created)'],
    ['created negative', event({ created: -1 }), 'the signed body is not a Stripe event (id, type, created)'],
    [
      'created with a fraction',
      event({ created: 1_700_000_000.5 }),
      'the signed body is not a Stripe event (id, type, created)',
    ],
    [
      'created above the largest safe integer',
      event({ created: 2 ** 53 }),
      'the signed body is not a Stripe event (id, type, created)',
    ],
  ])('signed, but %s: invalid_request (400) on the body', (_, payload, message) => {
    const result = verify(payload, sign(payload));

    expect(result).toBeInstanceOf(InvalidRequestError);
    expect(result).toMatchObject({ code: 'invalid_request', status: 400, message, details: { field: 'body' } });
  });

  test.each([1, Number.MAX_SAFE_INTEGER])('created %d is a valid Unix time', (created) => {
    const payload = event({ created });

    expect(verify(payload, sign(payload))).toMatchObject({ id: 'evt_1', created });
  });
});

describe('rawBodyOf (the bytes Stripe signed)', () => {
  test('a base64-encoded body from API Gateway is decoded; a plain one is taken as UTF-8; none is empty', () => {
    const payload = event({ description: 'Café ☕' });

    expect(rawBodyOf({ body: Buffer.from(payload).toString('base64'), isBase64Encoded: true }).toString('utf8')).toBe(
      payload,
    );
    expect(rawBodyOf({ body: payload, isBase64Encoded: false }).equals(Buffer.from(payload, 'utf8'))).toBe(true);
    expect(rawBodyOf({ body: null }).length).toBe(0);
  });

  test('a base64 body verifies against the signature of its decoded bytes', () => {
    const payload = event({ description: 'Café ☕' });
    const body = rawBodyOf({ body: Buffer.from(payload).toString('base64'), isBase64Encoded: true });

    expect(verifyStripeEvent(Stripe.webhooks, body, sign(payload), SECRETS)).toMatchObject({ id: 'evt_1' });
  });
});
