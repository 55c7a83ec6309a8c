import type { ChainableCommander } from 'ioredis';
import type { Db } from '../db';
import { ServiceUnavailableError } from '../errors';
import { keys } from '../keys';
import type { RedisClient } from '../redis';
import { commands, type InventoryCommands } from './scripts';
import { loadStockMirror } from './stock';

export interface LineQuantity {
  productId: string;
  quantity: number;
}

/** What the first hold of a new order came to (the key's script: RedisIdempotencyStore.claimAndHold). */
export type FirstHold = { kind: 'held' } | { kind: 'short'; productId: string } | { kind: 'not_loaded' };

export type ReserveResult = { ok: true } | { ok: false; productId: string };

/**
 * Phase 1: hold every line of an order for `ttlSeconds`, or nothing. Holding an order that already
 * holds its stock is a no-op, so a retried request never holds twice.
 */
export async function reserve(
  redis: RedisClient,
  db: Db,
  orderId: string,
  lines: readonly LineQuantity[],
  ttlSeconds: number,
): Promise<ReserveResult> {
  const { keyList, args } = holdArguments(orderId, lines, ttlSeconds);
  // A later pass sees 'missing' again only if the mirror was dropped in between (a give-back drops it,
  // Redis may lose it): three passes, then 503 (Retry-After: the same key resumes the same order).
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const [outcome, ...rest] = await commands(redis).reserveStock(keyList.length, ...keyList, ...args);
    if (outcome === 'ok' || outcome === 'held') return { ok: true };
    if (outcome === 'short') return { ok: false, productId: rest[0] as string };
    await loadStockMirror(db, redis, rest);
  }
  throw new ServiceUnavailableError();
}

export function holdArguments(orderId: string, lines: readonly LineQuantity[], ttlSeconds: number) {
  const keyList = [keys.reservation(orderId)];
  const args: (string | number)[] = [ttlSeconds, orderId];
  for (const { productId, quantity } of lines) {
    keyList.push(keys.stock(productId), keys.held(productId), keys.holds(productId));
    args.push(productId, quantity);
  }
  return { keyList, args };
}

function settleArguments(orderId: string, mirrorDeltas: readonly LineQuantity[], underLock: boolean) {
  const keyList = [keys.reservation(orderId)];
  const args: (string | number)[] = [orderId];
  for (const { productId, quantity } of mirrorDeltas) {
    keyList.push(keys.stock(productId), keys.held(productId), keys.holds(productId));
    args.push(productId, quantity > 0 && !underLock ? 'reload' : quantity);
  }
  return { keyList, args };
}

/**
 * After the PostgreSQL commit that changed inventory.quantity (or not): drops the order's hold and
 * moves the stock mirrors by `mirrorDeltas` in one atomic Redis step (settle.lua). A mirror that is
 * missing is left missing (it is reloaded from PostgreSQL when next needed). Stock taken (-n) is
 * taken from the mirror: after the commit that can only leave it lower than the truth, if a reload
 * slipped in between (safe, healed by the mirror's TTL). Stock given back (+n) drops the mirror
 * instead: adding it after the commit could count it twice (a reload in between already read it)
 * and oversell; the next order reloads it from PostgreSQL. `underLock`: the caller still holds the
 * inventory rows' lock in an open transaction (a reload waits for its commit: loadStockMirror reads
 * FOR SHARE), so +n can be added.
 */
export async function settleHold(
  redis: RedisClient,
  orderId: string,
  mirrorDeltas: readonly LineQuantity[],
  { underLock = false }: { underLock?: boolean } = {},
): Promise<void> {
  const { keyList, args } = settleArguments(orderId, mirrorDeltas, underLock);
  await commands(redis).settleStock(keyList.length, ...keyList, ...args);
}

/** settleHold queued on a pipeline (of a client the scripts are registered on), sent with it. */
export function queueSettleHold(
  pipeline: ChainableCommander,
  orderId: string,
  mirrorDeltas: readonly LineQuantity[],
): void {
  const { keyList, args } = settleArguments(orderId, mirrorDeltas, false);
  (pipeline as unknown as InventoryCommands).settleStock(keyList.length, ...keyList, ...args);
}

/** Phase 3 on failure: the hold is dropped and its stock is available again at once. */
export function release(redis: RedisClient, orderId: string, productIds: readonly string[]): Promise<void> {
  return settleHold(
    redis,
    orderId,
    productIds.map((productId) => ({ productId, quantity: 0 })),
  );
}

/**
 * The stock mirror and live holds per product, as the hold script sees them now (expired holds
 * dropped first; a missing mirror loaded from PostgreSQL).
 */
export async function stockState(
  redis: RedisClient,
  db: Db,
  productIds: readonly string[],
): Promise<Map<string, { mirror: number; held: number }>> {
  const keyList = productIds.flatMap((p) => [keys.stock(p), keys.held(p), keys.holds(p)]);
  let raw = await commands(redis).availableStock(keyList.length, ...keyList);
  const missing = productIds.filter((_, i) => raw[2 * i] === null);
  if (missing.length > 0) {
    await loadStockMirror(db, redis, missing);
    raw = await commands(redis).availableStock(keyList.length, ...keyList);
  }
  return new Map(productIds.map((p, i) => [p, { mirror: Number(raw[2 * i] ?? 0), held: Number(raw[2 * i + 1] ?? 0) }]));
}

/** Stock that can be held now: inventory.quantity minus live holds. */
export async function availableStock(
  redis: RedisClient,
  db: Db,
  productIds: readonly string[],
): Promise<Map<string, number>> {
  const state = await stockState(redis, db, productIds);
  return new Map(productIds.map((p) => [p, (state.get(p)?.mirror ?? 0) - (state.get(p)?.held ?? 0)]));
}
