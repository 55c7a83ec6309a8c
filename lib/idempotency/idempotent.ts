import { IdempotencyInProgressError, IdempotencyKeyMismatchError } from '../errors';
import type { IdempotencyRecord, IdempotencyStore, IdempotentResult, Later } from './port';

/**
 * How a request takes its key when it does more in the same round trip (create-order also holds
 * its stock): given the in-progress record and its lifetime, what held the key before (null: it
 * was free and is now this request's) and what else it did. Default: the store's plain claim.
 */
export type ClaimKey<T> = (record: string, lockSeconds: number) => Promise<{ previous: string | null; claimed: T }>;

/**
 * Runs `work` at most once per key: a stored answer is replayed, another body under the key is
 * refused (422), a key still in use is refused (409). `work` answering (2xx, or a stored 4xx such as
 * a decline) stores its answer; `work` throwing (rejected input, 503) stores nothing and lets the
 * key go. Redis is only the fast path: each use case keeps a durable guard in PostgreSQL.
 */
export async function idempotent<T = undefined>(
  store: IdempotencyStore,
  key: string,
  fingerprint: string,
  ttl: { resultSeconds: number; lockSeconds: number },
  work: (later: Later, claimed: T) => Promise<IdempotentResult>,
  claim: ClaimKey<T> = async (record, lockSeconds) => ({
    previous: await store.claim(key, record, lockSeconds),
    claimed: undefined as T,
  }),
): Promise<IdempotentResult> {
  const inProgress: IdempotencyRecord = { state: 'in_progress', fingerprint };
  const taken = await claim(JSON.stringify(inProgress), ttl.lockSeconds);
  if (taken.previous !== null) {
    const previous = JSON.parse(taken.previous) as IdempotencyRecord;
    if (previous.fingerprint !== fingerprint) throw new IdempotencyKeyMismatchError();
    if (previous.state === 'done') return { ...previous.response, replayed: true };
    throw new IdempotencyInProgressError(ttl.lockSeconds);
  }
  const later = store.later();
  let result: IdempotentResult;
  try {
    result = await work(later, taken.claimed);
  } catch (error) {
    await store.release(key);
    throw error;
  }
  const done: IdempotencyRecord = {
    state: 'done',
    fingerprint,
    response: { statusCode: result.statusCode, body: result.body },
  };
  await store.complete(key, JSON.stringify(done), ttl.resultSeconds, later);
  return result;
}
