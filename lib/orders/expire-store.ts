import type { Db } from '../db';

/** The scheduler's SQL (expire-orders.ts): which orders and refunds it takes up, and how it claims them. */

export interface AbandonedOrder {
  id: string;
  paymentIntentId: string | null;
}

/**
 * Takes the lease (locked_until, as claimOrder does) on the oldest order still `pending` after
 * `olderThanSeconds` that nobody else is working on, and returns it. One statement, autocommitted:
 * the row lock lasts only as long as it, never across a Stripe call; the lease is what keeps every
 * other claimer (create-order's retry, the cancel route, another run of the scheduler) away while
 * Stripe is asked. SKIP LOCKED: a row another writer has locked now is passed over, not waited for;
 * a row claimed and committed after our snapshot is re-checked on its newest version as it is
 * locked (its lease is live then: passed over too). The candidate is a MATERIALIZED CTE: as an
 * `IN (subquery)` PostgreSQL may run the LIMIT 1 subquery again for each row it updates, and take
 * them all. Scans orders_pending_created_at_idx.
 */
export async function claimAbandonedOrder(
  db: Db,
  o: { olderThanSeconds: number; leaseSeconds: number; skip: readonly string[] },
): Promise<AbandonedOrder | null> {
  const { rows } = await db.query<{ id: string; payment_intent_id: string | null }>(
    `WITH next AS MATERIALIZED (
       SELECT id FROM orders
        WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
          AND (locked_until IS NULL OR locked_until < now()) AND id <> ALL($3::uuid[])
        ORDER BY created_at
        LIMIT 1
          FOR UPDATE SKIP LOCKED
     )
     UPDATE orders o SET locked_until = now() + make_interval(secs => $2), updated_at = now()
       FROM next WHERE o.id = next.id
     RETURNING o.id, o.payment_intent_id`,
    [o.olderThanSeconds, o.leaseSeconds, o.skip],
  );
  const row = rows[0];
  return row ? { id: row.id, paymentIntentId: row.payment_intent_id } : null;
}
