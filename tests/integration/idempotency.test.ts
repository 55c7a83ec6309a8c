import { keys } from '../../lib/keys';
import { availableOf, countRows, givenProduct, heldOf, inventoryOf, orderRow } from '../helpers/builders';
import { redis } from '../helpers/harness';
import { orderBody, postOrder, stripeAnswers } from '../helpers/orders';
import { cardDeclinedError, paymentIntent } from '../helpers/stripe-fixtures';
import { mockPaymentIntentsCreate } from '../helpers/stripe-mock';

describe('POST /orders with an Idempotency-Key already used', () => {
  test('the same request twice returns the same order, marked replayed, with one PaymentIntent', async () => {
    const product = await givenProduct({ priceCents: 1000, stock: 5 });
    stripeAnswers('succeeded');
    const body = orderBody([{ productId: product.id, quantity: 2 }]);

    const first = await postOrder(body, { idempotencyKey: 'same-key' });
    const second = await postOrder(body, { idempotencyKey: 'same-key' });

    expect(first.statusCode).toBe(201);
    expect(second.statusCode).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers['Idempotent-Replayed']).toBe('true');
    expect(first.headers['Idempotent-Replayed']).toBeUndefined();
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('orders')).toBe(1);
    expect(await inventoryOf(product.id)).toBe(3);
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(3);
  });

  test('a declined order replays its 402 without a second payment attempt', async () => {
    const product = await givenProduct({ stock: 5 });
    mockPaymentIntentsCreate.mockImplementation(
      async (params: { amount: number; currency: string; metadata: { order_id: string } }) => {
        throw cardDeclinedError({
          intent: paymentIntent({
            status: 'requires_payment_method',
            amount: params.amount,
            currency: params.currency,
            orderId: params.metadata.order_id,
          }),
        });
      },
    );
    const body = orderBody([{ productId: product.id, quantity: 1 }], 'pm_card_chargeDeclined');

    const first = await postOrder(body, { idempotencyKey: 'declined-key' });
    const second = await postOrder(body, { idempotencyKey: 'declined-key' });

    expect(first.statusCode).toBe(402);
    expect(second.statusCode).toBe(402);
    expect(second.body).toEqual(first.body);
    expect(second.headers['Idempotent-Replayed']).toBe('true');
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('orders')).toBe(1);
  });

  test.each([
    ["a 402 (declined, with Stripe's own message)", 'declined'],
    ['a 409 (no stock)', 'no_stock'],
    ['a 201 (paid)', 'paid'],
  ] as const)('after Redis lost everything, %s is answered again exactly as the first time', async (_, outcome) => {
    // Prepare
    const product = await givenProduct({ priceCents: 1200, stock: outcome === 'no_stock' ? 0 : 5 });
    if (outcome === 'declined') {
      mockPaymentIntentsCreate.mockImplementation(
        async (params: { amount: number; currency: string; metadata: { order_id: string } }) => {
          const intent = paymentIntent({
            status: 'requires_payment_method',
            amount: params.amount,
            currency: params.currency,
            orderId: params.metadata.order_id,
          });
          throw Object.assign(cardDeclinedError({ intent, declineCode: 'insufficient_funds' }), {
            message: 'Your card has insufficient funds.',
          });
        },
      );
    } else stripeAnswers('succeeded');
    const body = orderBody([{ productId: product.id, quantity: 1 }]);
    const first = await postOrder(body, { idempotencyKey: `lost-${outcome}` });

    // Act
    await redis().flushdb();
    const again = await postOrder(body, { idempotencyKey: `lost-${outcome}` });

    // Assess
    expect(first.statusCode).toBe({ declined: 402, no_stock: 409, paid: 201 }[outcome]);
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.body).toEqual(first.body);
    if (outcome === 'declined') expect(again.body.error.message).toBe('Your card has insufficient funds.');
    expect(again.headers['Idempotent-Replayed']).toBe('true');
    expect(await countRows('orders')).toBe(1);
  });

  test('another body under the same key gets 422 idempotency_key_mismatch and changes nothing', async () => {
    const product = await givenProduct({ stock: 5 });
    stripeAnswers('succeeded');
    await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: 'reused-key' });

    const other = await postOrder(orderBody([{ productId: product.id, quantity: 2 }]), {
      idempotencyKey: 'reused-key',
    });

    expect(other.statusCode).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_mismatch');
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('orders')).toBe(1);
    expect(await inventoryOf(product.id)).toBe(4);
  });

  test('after Redis lost everything (FLUSHDB) a replay finds the order in PostgreSQL and creates nothing new', async () => {
    const product = await givenProduct({ priceCents: 700, stock: 5 });
    stripeAnswers('succeeded');
    const body = orderBody([{ productId: product.id, quantity: 1 }]);
    const first = await postOrder(body, { idempotencyKey: 'durable-key' });

    await redis().flushdb();
    const replay = await postOrder(body, { idempotencyKey: 'durable-key' });

    expect(replay.statusCode).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(replay.headers['Idempotent-Replayed']).toBe('true');
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('orders')).toBe(1);
    expect(await inventoryOf(product.id)).toBe(4);
    expect(await redis().exists(keys.idempotency('durable-key'))).toBe(1);
    expect(await heldOf(product.id)).toBe(0);
    expect(await availableOf(product.id)).toBe(4);
  });

  test('after only the stored answer expired, a replay holds nothing for long: the order is found in PostgreSQL, its stock untouched', async () => {
    // Prepare: the product's stock mirror is still in Redis, so the replay's key script holds stock at once.
    const product = await givenProduct({ priceCents: 700, stock: 5 });
    stripeAnswers('succeeded');
    const body = orderBody([{ productId: product.id, quantity: 2 }]);
    const first = await postOrder(body, { idempotencyKey: 'expired-answer' });
    await redis().del(keys.idempotency('expired-answer'));

    // Act
    const replay = await postOrder(body, { idempotencyKey: 'expired-answer' });

    // Assess
    expect(replay.statusCode).toBe(201);
    expect(replay.body).toEqual(first.body);
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await countRows('orders')).toBe(1);
    expect(await inventoryOf(product.id)).toBe(3);
    expect(await availableOf(product.id)).toBe(3);
    expect(await redis().keys('reservation:*')).toEqual([]);
    // The replay's own hold (taken with the key, then let go) left nothing counted against the stock.
    expect(await heldOf(product.id)).toBe(0);
  });

  test('after FLUSHDB another body under a used key is still refused with 422', async () => {
    const product = await givenProduct({ stock: 5 });
    stripeAnswers('succeeded');
    await postOrder(orderBody([{ productId: product.id, quantity: 1 }]), { idempotencyKey: 'durable-mismatch' });
    await redis().flushdb();

    const other = await postOrder(orderBody([{ productId: product.id, quantity: 3 }]), {
      idempotencyKey: 'durable-mismatch',
    });

    expect(other.statusCode).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_mismatch');
    expect(await countRows('orders')).toBe(1);
    expect(await redis().exists(keys.idempotency('durable-mismatch'))).toBe(0);
  });

  test('a second request while the first is still running gets 409 idempotency_in_progress with Retry-After', async () => {
    const product = await givenProduct({ stock: 5 });
    let releaseStripe: () => void = () => undefined;
    mockPaymentIntentsCreate.mockImplementation(
      (params: { amount: number; currency: string; metadata: { order_id: string } }) =>
        new Promise((resolve) => {
          releaseStripe = () =>
            resolve(
              paymentIntent({
                status: 'succeeded',
                amount: params.amount,
                currency: params.currency,
                orderId: params.metadata.order_id,
              }),
            );
        }),
    );
    const body = orderBody([{ productId: product.id, quantity: 1 }]);

    const first = postOrder(body, { idempotencyKey: 'busy-key' });
    await waitFor(() => mockPaymentIntentsCreate.mock.calls.length === 1);
    const second = await postOrder(body, { idempotencyKey: 'busy-key' });
    releaseStripe();

    expect(second.statusCode).toBe(409);
    expect(second.body.error.code).toBe('idempotency_in_progress');
    expect(Number(second.headers['Retry-After'])).toBeGreaterThan(0);
    expect((await first).statusCode).toBe(201);
    expect(mockPaymentIntentsCreate).toHaveBeenCalledTimes(1);
    expect(await orderRow((await first).body.order.id)).toMatchObject({ status: 'paid' });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
