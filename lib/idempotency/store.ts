import type { ChainableCommander, Redis } from 'ioredis';
import { IdempotencyInProgressError, IdempotencyKeyMismatchError } from '../errors';
import { keys } from '../inventory/keys';
import { batchFor } from '../inventory/scripts';

/** A response as it is replayed: status and body. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export type IdempotencyRecord =
  | { state: 'in_progress'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

/**
 * Takes the key for this request (SET NX GET: one round trip). Returns null when taken, else what
 * is already there. Redis is only the fast path: orders.idempotency_key is the durable guard.
 */
async function claimKey(redis: Redis, key: string, fingerprint: string, lockSeconds: number): Promise<IdempotencyRecord | null> {
  const record: IdempotencyRecord = { state: 'in_progress', fingerprint };
  const previous = await redis.set(keys.idempotency(key), JSON.stringify(record), 'EX', lockSeconds, 'NX', 'GET');
  return previous === null ? null : (JSON.parse(previous) as IdempotencyRecord);
}

/** Lets the key go without a stored result (503, rejected input): the next try runs again. */
async function releaseKey(redis: Redis, key: string): Promise<void> {
  await redis.del(keys.idempotency(key));
}

export interface IdempotentResult extends StoredResponse {
  /** True when this is the stored answer to an earlier request with the same key. */
  replayed: boolean;
}

/**
 * Runs `work` at most once per key: a stored answer is replayed, another body under the key is
 * refused (422), a key still in use is refused (409). `work` answering (2xx, or a stored 4xx such as
 * a decline) stores its answer; `work` throwing (rejected input, 503) stores nothing.
 */
export async function idempotent(
  redis: Redis,
  key: string,
  fingerprint: string,
  ttl: { resultSeconds: number; lockSeconds: number },
  work: (batch: ChainableCommander) => Promise<IdempotentResult>,
): Promise<IdempotentResult> {
  const previous = await claimKey(redis, key, fingerprint, ttl.lockSeconds);
  if (previous) {
    if (previous.fingerprint !== fingerprint) throw new IdempotencyKeyMismatchError();
    if (previous.state === 'done') return { ...previous.response, replayed: true };
    throw new IdempotencyInProgressError(ttl.lockSeconds);
  }
  // Redis work the request leaves for its end (dropping a hold) rides with its stored answer.
  const batch = batchFor(redis);
  let result: IdempotentResult;
  try {
    result = await work(batch);
  } catch (error) {
    await releaseKey(redis, key);
    throw error;
  }
  const record: IdempotencyRecord = { state: 'done', fingerprint, response: { statusCode: result.statusCode, body: result.body } };
  batch.set(keys.idempotency(key), JSON.stringify(record), 'EX', ttl.resultSeconds);
  for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
  return result;
}
