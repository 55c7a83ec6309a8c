import type { Db } from '../db';
import type { OutboxTopic } from '../orders/history';

/** One outbox row on its way out. */
export interface OutboxEvent {
  /** The event id other systems drop repeats by. */
  id: string;
  topic: OutboxTopic;
  orderId: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

export interface SendFailure {
  id: string;
  error: string;
}

/** A failed send waits 30 s, then twice as long after each further failure, at most 15 minutes. */
const BACKOFF_BASE_SECONDS = 30;
const BACKOFF_MAX_SECONDS = 900;

/**
 * Claims up to `limit` rows that are due, oldest first, in one statement: its row locks last only as
 * long as the statement, never across the call to EventBridge. SKIP LOCKED sends a concurrent claimer
 * to the next rows instead of making it wait; the lease written here (next_attempt_at) then keeps every
 * other publisher away from these rows while this one sends them. A row whose lease ran out (its
 * publisher died) is due again: at least once, never lost.
 */
export async function claimOutbox(
  db: Db,
  o: { limit: number; now: Date; leaseSeconds: number },
): Promise<OutboxEvent[]> {
  const { rows } = await db.query<{
    id: string;
    topic: OutboxTopic;
    order_id: string;
    payload: Record<string, unknown>;
    created_at: Date;
  }>(
    `WITH due AS MATERIALIZED (
       SELECT id FROM outbox
        WHERE published_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= $2::timestamptz)
        ORDER BY created_at, id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
     ), claimed AS (
       UPDATE outbox o SET next_attempt_at = $2::timestamptz + make_interval(secs => $3::integer)
         FROM due WHERE o.id = due.id
       RETURNING o.id, o.topic, o.order_id, o.payload, o.created_at
     )
     SELECT * FROM claimed ORDER BY created_at, id`,
    [o.limit, o.now, o.leaseSeconds],
  );
  return rows.map((r) => ({
    id: r.id,
    topic: r.topic,
    orderId: r.order_id,
    payload: r.payload,
    createdAt: r.created_at,
  }));
}

/**
 * What one send did, in one statement: `published` rows are done; each of `failed` counts an attempt,
 * keeps its error and waits out the backoff. Every send is an attempt, the one that worked included.
 */
export async function recordSends(db: Db, o: { published: string[]; failed: SendFailure[]; now: Date }): Promise<void> {
  if (o.published.length === 0 && o.failed.length === 0) return;
  await db.query(
    `WITH published AS (
       UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, next_attempt_at = NULL
        WHERE id = ANY($1::uuid[]) AND published_at IS NULL
     )
     UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.error,
            next_attempt_at = $4::timestamptz + make_interval(secs => least($5::float8 * 2 ^ least(o.attempts, 20), $6::float8))
       FROM unnest($2::uuid[], $3::text[]) AS f (id, error)
      WHERE o.id = f.id AND o.published_at IS NULL`,
    [
      o.published,
      o.failed.map((f) => f.id),
      o.failed.map((f) => f.error),
      o.now,
      BACKOFF_BASE_SECONDS,
      BACKOFF_MAX_SECONDS,
    ],
  );
}

/** Gives back claimed rows that were never sent: due again at once, no attempt counted. */
export async function releaseClaims(db: Db, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query('UPDATE outbox SET next_attempt_at = NULL WHERE id = ANY($1::uuid[]) AND published_at IS NULL', [ids]);
}
