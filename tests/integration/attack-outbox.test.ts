import { type EventPublisher, publishOutbox } from '../../lib/events/publisher';
import { givenProduct } from '../helpers/builders';
import { db, testDeps } from '../helpers/harness';
import { givenPaidOrder } from '../helpers/orders';

test('an event the bus refuses for good, after ~10 days of 15-minute retries (1024 attempts): the run still records its sends and the events behind it go out', async () => {
  const product = await givenProduct({ priceCents: 1500, stock: 10 });
  const order = await givenPaidOrder([{ productId: product.id, quantity: 1 }]);
  await db().query('DELETE FROM outbox');
  const { rows } = await db().query<{ id: string }>(
    `INSERT INTO outbox (topic, order_id, payload, created_at, attempts)
     VALUES ('order.paid', $1, '{"poison":true}', now() - interval '11 days', 1024),
            ('order.refunded', $1, '{"ok":true}', now() - interval '1 minute', 0) RETURNING id`,
    [order.id],
  );
  const [poison, healthy] = rows.map((r) => r.id);
  const events: EventPublisher = {
    put: async (batch) => batch.map((e) => (e.id === poison ? { ok: false, error: 'too big' } : { ok: true })),
  };
  const deps = { db: db(), log: testDeps().log, events };

  await expect(publishOutbox(deps, { limit: 10 })).resolves.toMatchObject({ published: 1, failed: 1 });
  const { rows: after } = await db().query<{ id: string; published: boolean }>(
    'SELECT id, published_at IS NOT NULL AS published FROM outbox WHERE id = ANY($1::uuid[])',
    [[poison, healthy]],
  );
  expect(after.find((r) => r.id === healthy)?.published).toBe(true);
});
