// The real SDK, not the suite's mock: this file checks where the real client sends its requests.
jest.unmock('stripe');
// The key is read only here, in place of STRIPE_SECRET_KEY (which the suite's trap forbids touching).
jest.mock('../../lib/config', () => ({
  ...jest.requireActual('../../lib/config'),
  stripeSecretKey: () => 'sk_test_for_the_double',
}));

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { readConfig } from '../../lib/config';
import { createStripeClient } from '../../lib/payments/stripe-client';

/**
 * Written for mutation testing (MUTATION.md): STRIPE_API_BASE points the real Stripe client at a
 * Stripe-compatible double (npm run dev, the e2e tier), by protocol, host and port.
 */
interface Seen {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
}

/** A Stripe double on a free local port that answers every request with a PaymentIntent. */
async function stripeDouble(): Promise<{ server: Server; base: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    seen.push({ method: request.method, url: request.url, headers: request.headers });
    response.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_${seen.length}` });
    response.end(JSON.stringify({ id: 'pi_1', object: 'payment_intent', status: 'succeeded' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** What the SDK's own request code reads for `field`. */
const apiField = (client: Stripe, field: string): unknown =>
  (client as unknown as { getApiField(f: string): unknown }).getApiField(field);

describe('createStripeClient with STRIPE_API_BASE', () => {
  test('an http://host:port double gets every request, over http, with the key and without telemetry about earlier ones', async () => {
    // Prepare
    const double = await stripeDouble();
    try {
      const client = createStripeClient(readConfig({ STRIPE_API_BASE: double.base }));

      // Act: a second request is the one that would carry telemetry about the first.
      await client.paymentIntents.retrieve('pi_1');
      await client.paymentIntents.retrieve('pi_2');

      // Assess
      expect(double.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
        'GET /v1/payment_intents/pi_1',
        'GET /v1/payment_intents/pi_2',
      ]);
      expect(double.seen[0]?.headers.authorization).toBe('Bearer sk_test_for_the_double');
      expect(double.seen.map((r) => r.headers['x-stripe-client-telemetry'])).toEqual([undefined, undefined]);
    } finally {
      double.server.close();
    }
  });

  test.each([
    ['https://stripe-double.internal', 'https', 443],
    ['http://stripe-double.internal', 'http', 80],
    ['https://stripe-double.internal:8443', 'https', 8443],
  ])('%s without a request: protocol %s, port %s', (base, protocol, port) => {
    const client = createStripeClient(readConfig({ STRIPE_API_BASE: base }));

    expect([apiField(client, 'protocol'), apiField(client, 'host'), Number(apiField(client, 'port'))]).toEqual([
      protocol,
      'stripe-double.internal',
      port,
    ]);
  });
});
