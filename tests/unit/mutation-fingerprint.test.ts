import { createHash } from 'node:crypto';
import { fingerprint } from '../../lib/idempotency/fingerprint';

/**
 * Written for mutation testing (MUTATION.md). A fingerprint outlives the code that computed it: it
 * is stored with the Idempotency-Key in Redis for IDEMPOTENCY_TTL_SECONDS and in orders.request_hash
 * for good, and a retry is compared with it. So the canonical form may never change with a deploy:
 * a retry that crosses one would get 422 idempotency_key_mismatch for the very request it repeats.
 */
describe('fingerprint: the canonical form stored fingerprints were computed from', () => {
  test('is SHA-256 of the JSON with object keys sorted and nothing between tokens, whatever the key order sent', () => {
    const sent = {
      paymentMethodId: 'pm_card_visa',
      items: [
        { quantity: 2, productId: 'sku-b' },
        { productId: 'sku-a', quantity: 1 },
      ],
      customerId: 'cus_1',
    };
    const canonical =
      '{"customerId":"cus_1","items":[{"productId":"sku-b","quantity":2},{"productId":"sku-a","quantity":1}],' +
      '"paymentMethodId":"pm_card_visa"}';

    expect(fingerprint(sent)).toBe(createHash('sha256').update(canonical).digest('hex'));
  });
});
