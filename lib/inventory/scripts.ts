import type { Redis } from 'ioredis';

import available from './lua/available.lua';
import claimAndReserve from './lua/claim-and-reserve.lua';
import hold from './lua/hold.lua';
import prelude from './lua/prelude.lua';
import reserve from './lua/reserve.lua';
import settle from './lua/settle.lua';

/**
 * The inventory's Lua scripts (lib/inventory/lua/*.lua: each opens with its KEYS, ARGV and what it
 * returns), loaded as text (esbuild's and jest's text loaders; scripts/text-loader.cjs under tsx)
 * and registered as commands with defineCommand. prelude.lua (clock, purge of expired holds) and
 * hold.lua (the all-or-nothing hold) are shared pieces put in front of the scripts that use them.
 */
export const LUA = {
  reserveStock: [prelude, hold, reserve].join('\n'),
  claimAndReserveStock: [prelude, hold, claimAndReserve].join('\n'),
  settleStock: [prelude, settle].join('\n'),
  availableStock: [prelude, available].join('\n'),
} as const;

/** The hold alone, as the benchmark's limit sends it. */
export const RESERVE = LUA.reserveStock;

export interface InventoryCommands {
  reserveStock(...args: (string | number)[]): Promise<string[]>;
  claimAndReserveStock(...args: (string | number)[]): Promise<string[]>;
  settleStock(...args: (string | number)[]): Promise<number>;
  availableStock(...args: (string | number)[]): Promise<(string | number | null)[]>;
}

const registered = new WeakSet<Redis>();

/** The scripts as commands of this client (EVALSHA, falling back to EVAL after a Redis restart). */
export function commands(redis: Redis): Redis & InventoryCommands {
  if (!registered.has(redis)) {
    for (const [name, lua] of Object.entries(LUA)) redis.defineCommand(name, { lua });
    registered.add(redis);
  }
  return redis as Redis & InventoryCommands;
}
