/** What the bench and its worker threads say to each other. */

/** workerData of every bench worker. */
export interface WorkerData {
  /** Unique per worker: its Idempotency-Keys and order ids never meet another's. */
  prefix: string;
  /** The products its orders pick from, uniformly. */
  products: string[];
  /** Writes to these ports are counted as round trips (round-trips.ts). */
  pgPort: number;
  redisPort: number;
  databaseUrl: string;
  redisUrl: string;
  stripeUrl: string;
}

/** The service: the deployed create-order bundle, loaded by the worker as a Lambda container loads it. */
export interface ServiceWorkerData extends WorkerData {
  bundle: string;
}

/**
 * The limit. `stripe`: how it makes its one Stripe call: `http`, one bare keep-alive request;
 * `sdk`, through the service's own Stripe client and payments adapter (same SDK, same options).
 */
export interface LimitWorkerData extends WorkerData {
  stripe: 'http' | 'sdk';
  /** The hold script (lib/inventory/lua), read by the bench: a worker bundle has no files of its own. */
  reserveLua: string;
}

/** Parent -> worker. */
export type ToWorker =
  /** Set up, then serve `orders` orders unmeasured (JIT-compiled code, open connections). */
  | { warmUp: number }
  /**
   * The measured window: orders until the clock passes `until` (ms since the epoch) or `orders`
   * have been served, whichever comes first. `profile`: run the V8 CPU profiler over the window.
   */
  | { measure: { until: number; orders?: number; profile?: { intervalMicros: number } } };

/** What a worker measured in its window. */
export interface WindowResult {
  /** Paid orders (HTTP 201). */
  orders: number;
  /** Of each paid order, ms. */
  latencies: number[];
  pgTrips: number;
  redisTrips: number;
  /** Anything but 201, by status or error message. */
  errors: Record<string, number>;
  /** The V8 CPU profile (.cpuprofile JSON) when asked for. */
  profile?: CpuProfile;
}

/** Worker -> parent: 'ready' once loaded, 'warm' after the warm-up, then its WindowResult. */
export type FromWorker = 'ready' | 'warm' | WindowResult;

/** The V8 CPU profile format (what `node --cpu-prof` writes, and Chrome DevTools opens). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}
