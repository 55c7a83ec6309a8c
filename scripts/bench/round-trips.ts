/**
 * Round trips, counted at the sockets of the worker thread that calls this: a PostgreSQL round trip
 * ends with a Sync ('S') or a simple Query ('Q') message (one statement's Parse/Bind/Execute/Sync may
 * be one write or several); a Redis one is one write (a command, a script call or a whole pipeline).
 */
import { Socket } from 'node:net';

export interface RoundTrips {
  pg: number;
  redis: number;
}

const SYNC = 0x53;
const QUERY = 0x51;

/** Sync and Query messages in one write of PostgreSQL's frontend protocol. */
export function pgRoundTrips(chunk: Buffer): number {
  if (chunk.length >= 8 && chunk[0] === 0) return 0; // startup / SSL request: connection set-up
  let n = 0;
  for (let i = 0; i + 5 <= chunk.length; i += 1 + chunk.readInt32BE(i + 1)) {
    if (chunk[i] === SYNC || chunk[i] === QUERY) n++;
  }
  return n;
}

/** Counts from now on, in the object it returns; one call per thread. */
export function countRoundTrips(pgPort: number, redisPort: number): RoundTrips {
  const counts: RoundTrips = { pg: 0, redis: 0 };
  const write = Socket.prototype.write as (this: Socket, chunk: unknown, ...rest: unknown[]) => boolean;
  Socket.prototype.write = function (this: Socket, chunk: unknown, ...rest: unknown[]): boolean {
    if (this.remotePort === pgPort) {
      counts.pg += pgRoundTrips(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
    } else if (this.remotePort === redisPort) counts.redis += 1;
    return write.call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
  return counts;
}
