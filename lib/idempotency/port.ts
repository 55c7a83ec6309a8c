import type { LineQuantity } from '../inventory/reservations';

/**
 * The idempotency port: what a use case needs to run at most once per key. The Redis adapter
 * (redis-store.ts) is the only implementation; use cases see no Redis type.
 */

/** A response as it is replayed: status and body. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

export interface IdempotentResult extends StoredResponse {
  /** True when this is the stored answer to an earlier request with the same key. */
  replayed: boolean;
}

export type IdempotencyRecord =
  | { state: 'in_progress'; fingerprint: string }
  | { state: 'done'; fingerprint: string; response: StoredResponse };

/**
 * Work a request leaves for its end, sent in the same round trip as its stored answer: today, the
 * Redis step that drops an order's hold and moves the stock mirrors (settleHold).
 */
export interface Later {
  settleHold(orderId: string, mirrorDeltas: readonly LineQuantity[]): void;
}

export interface IdempotencyStore {
  /** Takes `key` with `record` for `lockSeconds`: null when it was free (now ours), else the record holding it. */
  claim(key: string, record: string, lockSeconds: number): Promise<string | null>;
  /** A collector for the work this request leaves for its end. */
  later(): Later;
  /** Stores the answer (`record`, for `resultSeconds`) and sends `later`'s work with it: one round trip. */
  complete(key: string, record: string, resultSeconds: number, later: Later): Promise<void>;
  /** Lets the key go without an answer (a 503, rejected input): the next try runs again. */
  release(key: string): Promise<void>;
}
