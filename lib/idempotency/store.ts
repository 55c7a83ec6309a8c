import type { Redis } from 'ioredis';
import { keys } from '../inventory/keys';

/** A response as it is replayed: status and body. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export type IdempotencyRecord =
  | { state: 'in_progress'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

/**
 * How long a request may hold its key before another may take over. Longer than API Gateway lets a
 * Lambda run (29 s), so a live request never loses it; short enough that a crashed one is retried soon.
 */
export const IN_PROGRESS_TTL_SECONDS = 60;

/**
 * Takes the key for this request (SET NX GET: one round trip). Returns null when taken, else what
 * is already there. Redis is only the fast path: orders.idempotency_key is the durable guard.
 */
export async function claimKey(redis: Redis, key: string, fingerprint: string): Promise<IdempotencyRecord | null> {
  const record: IdempotencyRecord = { state: 'in_progress', fingerprint };
  const previous = await redis.set(keys.idempotency(key), JSON.stringify(record), 'EX', IN_PROGRESS_TTL_SECONDS, 'NX', 'GET');
  return previous === null ? null : (JSON.parse(previous) as IdempotencyRecord);
}

export async function storeResponse(
  redis: Redis,
  key: string,
  fingerprint: string,
  response: StoredResponse,
  ttlSeconds: number,
): Promise<void> {
  const record: IdempotencyRecord = { state: 'done', fingerprint, response };
  await redis.set(keys.idempotency(key), JSON.stringify(record), 'EX', ttlSeconds);
}

/** Lets the key go without a stored result (503, rejected input): the next try runs again. */
export async function releaseKey(redis: Redis, key: string): Promise<void> {
  await redis.del(keys.idempotency(key));
}
