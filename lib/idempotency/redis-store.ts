import type { ChainableCommander } from 'ioredis';
import { type FirstHold, holdArguments, type LineQuantity, queueSettleHold } from '../inventory/reservations';
import { commands } from '../inventory/scripts';
import type { RedisClient } from '../redis';
import type { IdempotencyStore, Later } from './port';

/** Redis work queued on one pipeline, sent with the request's stored answer. */
export class RedisLater implements Later {
  constructor(readonly pipeline: ChainableCommander) {}

  settleHold(orderId: string, mirrorDeltas: readonly LineQuantity[]): void {
    queueSettleHold(this.pipeline, orderId, mirrorDeltas);
  }

  /** Sends what was queued (complete() does; a test may too). */
  async send(): Promise<void> {
    for (const [error] of (await this.pipeline.exec()) ?? []) if (error) throw error;
  }
}

/** The idempotency port over Redis: a key is a Redis key (lib/keys.ts); SET NX GET takes it. */
export class RedisIdempotencyStore implements IdempotencyStore {
  constructor(private readonly redis: RedisClient) {}

  claim(key: string, record: string, lockSeconds: number): Promise<string | null> {
    return this.redis.set(key, record, 'EX', lockSeconds, 'NX', 'GET');
  }

  later(): RedisLater {
    return new RedisLater(commands(this.redis).pipeline());
  }

  async complete(key: string, record: string, resultSeconds: number, later: Later): Promise<void> {
    const redisLater = later instanceof RedisLater ? later : this.later();
    redisLater.pipeline.set(key, record, 'EX', resultSeconds);
    await redisLater.send();
  }

  async release(key: string): Promise<void> {
    await this.redis.del(key);
  }

  /**
   * Takes a new order's key (`record` for `lockSeconds`, SET NX GET) and, when it was free, holds
   * its stock: one round trip for both (claim-and-reserve.lua). `previous` is what held the key
   * (nothing is held then). A stock mirror that is not loaded is not loaded here: nothing is held,
   * and the caller holds with reserve() once the order is recorded, so a request for a product that
   * does not exist leaves nothing in Redis.
   */
  async claimAndHold(
    key: string,
    record: string,
    lockSeconds: number,
    hold: { orderId: string; lines: readonly LineQuantity[]; ttlSeconds: number },
  ): Promise<{ previous: string | null; hold: FirstHold }> {
    const { keyList, args } = holdArguments(hold.orderId, hold.lines, hold.ttlSeconds);
    const [outcome, first] = await commands(this.redis).claimAndReserveStock(
      keyList.length + 1,
      key,
      ...keyList,
      record,
      lockSeconds,
      ...args,
    );
    switch (outcome) {
      case 'claimed':
        return { previous: first as string, hold: { kind: 'not_loaded' } };
      case 'ok':
      case 'held':
        return { previous: null, hold: { kind: 'held' } };
      case 'short':
        return { previous: null, hold: { kind: 'short', productId: first as string } };
      default:
        return { previous: null, hold: { kind: 'not_loaded' } };
    }
  }
}
