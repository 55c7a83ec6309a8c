/**
 * C worker threads (C Lambda containers), each loading its program on its own (its own pool and
 * Redis client) and serving one order at a time: a fleet. It warms up, then serves measured windows.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { CPU_GROUPS, type CpuGroup, type CpuScope, cpuSpent, cpuTimes } from './cpu';
import type { CpuProfile, FromWorker, ToWorker, WindowResult, WorkerData } from './protocol';

export interface RunResult {
  orders: number;
  /** The window as it was: from its start to the end of the last order in it (summed over slices). */
  seconds: number;
  /** Sorted, ms. */
  latencies: number[];
  pgTrips: number;
  redisTrips: number;
  /** Requests the Stripe double answered in the window. */
  stripeTrips: number;
  errors: Record<string, number>;
  /** CPU ms spent in the window, per process group. */
  cpu: Record<CpuGroup, number>;
  /** One per worker and window, when asked for. */
  profiles: CpuProfile[];
}

/** What the fleet's CPU and Stripe requests are read from. */
export interface Meters {
  cpuScope: CpuScope;
  /** Requests the Stripe double has answered so far. */
  stripeRequests: () => Promise<number>;
}

export interface Window {
  /** This long, or until each worker has served `orders`, whichever comes first. */
  seconds: number;
  orders?: number;
  profile?: { intervalMicros: number };
}

export interface Fleet {
  /** Each worker serves this many orders, unmeasured. */
  warmUp(orders: number): Promise<void>;
  measure(window: Window): Promise<RunResult>;
  stop(): Promise<void>;
}

/** `program`: a built worker (build.ts); `data`: its workerData less `prefix`. */
export async function startFleet<D extends WorkerData>(
  program: string,
  data: Omit<D, 'prefix'>,
  concurrency: number,
  meters: Meters,
): Promise<Fleet> {
  const workers = Array.from(
    { length: concurrency },
    // A plain Node, as Lambda runs: not the loaders this process was started with.
    (_, i) => new Worker(program, { execArgv: [], workerData: { ...data, prefix: `${randomUUID()}-${i}` } }),
  );
  /** The worker's next message (its answer to `message`), or its error. */
  const answer = <T extends FromWorker>(w: Worker, message?: ToWorker) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: T) => {
        w.off('error', onError);
        resolve(m);
      };
      const onError = (error: Error) => {
        w.off('message', onMessage);
        reject(error);
      };
      w.once('message', onMessage);
      w.once('error', onError);
      if (message) w.postMessage(message);
    });
  const stop = async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  };
  try {
    await Promise.all(workers.map((w) => answer(w)));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    warmUp: async (orders) => {
      await Promise.all(workers.map((w) => answer(w, { warmUp: orders })));
    },
    async measure(window) {
      const stripeBefore = await meters.stripeRequests();
      const before = cpuTimes(meters.cpuScope);
      const started = performance.now();
      const measure = { until: Date.now() + window.seconds * 1000, orders: window.orders, profile: window.profile };
      const results = await Promise.all(workers.map((w) => answer<WindowResult>(w, { measure })));
      // From the start to the last worker's last order (which may end a little after `until`).
      const seconds = (performance.now() - started) / 1000;
      // Read before the workers go: their connections close with them, and so do their backends.
      const after = cpuTimes(meters.cpuScope);
      const stripeTrips = (await meters.stripeRequests()) - stripeBefore;
      return merge(
        results.map((r) => ({
          ...r,
          seconds: 0,
          stripeTrips: 0,
          cpu: zeroCpu(),
          profiles: r.profile ? [r.profile] : [],
        })),
        { seconds, stripeTrips, cpu: cpuSpent(before, after) },
      );
    },
    stop,
  };
}

/** One fleet, one window: warm up, measure, stop. */
export async function runWorkers<D extends WorkerData>(
  program: string,
  data: Omit<D, 'prefix'>,
  o: { concurrency: number; warmUpOrders: number; meters: Meters } & Window,
): Promise<RunResult> {
  const fleet = await startFleet(program, data, o.concurrency, o.meters);
  try {
    await fleet.warmUp(o.warmUpOrders);
    return await fleet.measure(o);
  } finally {
    await fleet.stop();
  }
}

const zeroCpu = () => Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>;

/** Several workers' or windows' results as one (sums; latencies pooled); `plus` added on top. */
export function merge(parts: RunResult[], plus: Partial<Pick<RunResult, 'seconds' | 'stripeTrips' | 'cpu'>> = {}) {
  const merged: RunResult = {
    orders: 0,
    seconds: plus.seconds ?? 0,
    latencies: [],
    pgTrips: 0,
    redisTrips: 0,
    stripeTrips: plus.stripeTrips ?? 0,
    errors: {},
    cpu: { ...zeroCpu(), ...plus.cpu },
    profiles: [],
  };
  for (const r of parts) {
    merged.orders += r.orders;
    merged.seconds += r.seconds;
    for (const l of r.latencies) merged.latencies.push(l);
    merged.pgTrips += r.pgTrips;
    merged.redisTrips += r.redisTrips;
    merged.stripeTrips += r.stripeTrips;
    for (const [k, v] of Object.entries(r.errors)) merged.errors[k] = (merged.errors[k] ?? 0) + v;
    for (const g of CPU_GROUPS) merged.cpu[g] += r.cpu[g];
    merged.profiles.push(...r.profiles);
  }
  merged.latencies.sort((a, b) => a - b);
  return merged;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
