import type { ChainableCommander, Redis } from 'ioredis';
import { IdempotencyInProgressError, IdempotencyKeyMismatchError } from '../errors';
import { batchFor } from '../inventory/scripts';
import { keys } from '../keys';

/** A response as it is replayed: status and body. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export type IdempotencyRecord =
  | { state: 'in_progress'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

/**
 * How a request takes its key: given the in-progress record and its lifetime, it returns what held
 * the key before (null: it was free and is now this request's) and whatever else it did in the same
 * round trip. The plain one is SET NX GET; create-order's also holds the order's stock.
 * Redis is only the fast path: orders.idempotency_key is the durable guard.
 */
export type ClaimKey<T> = (record: string, lockSeconds: number) => Promise<{ previous: string | null; claimed: T }>;

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
export async function idempotent<T = undefined>(
  redis: Redis,
  key: string,
  fingerprint: string,
  ttl: { resultSeconds: number; lockSeconds: number },
  work: (batch: ChainableCommander, claimed: T) => Promise<IdempotentResult>,
  claim?: ClaimKey<T>,
): Promise<IdempotentResult> {
  const inProgress: IdempotencyRecord = { state: 'in_progress', fingerprint };
  const record = JSON.stringify(inProgress);
  // Takes the key (one round trip); a key already taken holds the answer to replay or a request in flight.
  const taken = claim
    ? await claim(record, ttl.lockSeconds)
    : {
        previous: await redis.set(keys.idempotency(key), record, 'EX', ttl.lockSeconds, 'NX', 'GET'),
        claimed: undefined as T,
      };
  if (taken.previous !== null) {
    const previous = JSON.parse(taken.previous) as IdempotencyRecord;
    if (previous.fingerprint !== fingerprint) throw new IdempotencyKeyMismatchError();
    if (previous.state === 'done') return { ...previous.response, replayed: true };
    throw new IdempotencyInProgressError(ttl.lockSeconds);
  }
  // Redis work the request leaves for its end (dropping a hold) rides with its stored answer.
  const batch = batchFor(redis);
  let result: IdempotentResult;
  try {
    result = await work(batch, taken.claimed);
  } catch (error) {
    await releaseKey(redis, key);
    throw error;
  }
  const done: IdempotencyRecord = {
    state: 'done',
    fingerprint,
    response: { statusCode: result.statusCode, body: result.body },
  };
  batch.set(keys.idempotency(key), JSON.stringify(done), 'EX', ttl.resultSeconds);
  for (const [error] of (await batch.exec()) ?? []) if (error) throw error;
  return result;
}
