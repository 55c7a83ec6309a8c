import Redis from 'ioredis';

export type { Redis };
/** The client type the Redis adapters take (lib/inventory, lib/idempotency/redis-store.ts); nothing else sees ioredis. */
export type RedisClient = Redis;

export function createRedis(url: string): Redis {
  return new Redis(url, {
    // Fail a command fast when Redis is gone instead of queueing it for ever; the caller maps it.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
}
