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

/**
 * True for what ioredis throws when Redis cannot serve now: a command that ran out of retries, or a
 * connection that is closed (ioredis gives that one no code). Socket errors carry a code
 * (ECONNREFUSED, ...) and are recognised by it, with PostgreSQL's, in lib/db.ts isConnectionError.
 */
export function isRedisUnavailable(error: unknown): boolean {
  const { name, code, message } = (error ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  if (name === 'MaxRetriesPerRequestError') return true;
  return code === undefined && typeof message === 'string' && message.startsWith('Connection is closed');
}
