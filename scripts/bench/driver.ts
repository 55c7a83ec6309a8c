/**
 * The loop every bench worker runs: warm up with a number of orders (a Lambda container serves
 * thousands in its life: its code is JIT-compiled, its connections open), then serve orders one at
 * a time through the measured window and report them.
 */
import { Session } from 'node:inspector/promises';
import { parentPort, workerData } from 'node:worker_threads';
import type { CpuProfile, FromWorker, ToWorker, WindowResult, WorkerData } from './protocol';
import type { RoundTrips } from './round-trips';

/** What is measured: one paid order resolves with 201; anything else is counted as an error. */
export interface Subject {
  setUp(): Promise<void>;
  order(productId: string): Promise<number>;
}

export function serve(subject: Subject, counts: RoundTrips): void {
  const port = parentPort;
  if (!port) throw new Error('a bench worker runs in a worker thread (scripts/bench/workers.ts starts it)');
  const { products } = workerData as WorkerData;
  const pick = () => products[Math.floor(Math.random() * products.length)] as string;
  const reply = (message: FromWorker) => port.postMessage(message);

  port.on('message', async (message: ToWorker) => {
    if ('warmUp' in message) {
      await subject.setUp();
      for (let i = 0; i < message.warmUp; i++) await subject.order(pick());
      reply('warm');
      return;
    }
    const { until, orders: most = Number.POSITIVE_INFINITY, profile } = message.measure;
    const profiler = profile ? await startProfiler(profile.intervalMicros) : undefined;
    const result: WindowResult = { orders: 0, latencies: [], pgTrips: 0, redisTrips: 0, errors: {} };
    const p0 = counts.pg;
    const r0 = counts.redis;
    let served = 0;
    while (Date.now() < until && served < most) {
      const t = performance.now();
      let status: number | string;
      try {
        status = await subject.order(pick());
      } catch (error) {
        status = error instanceof Error ? error.message : String(error);
      }
      served++;
      if (status === 201) {
        result.orders++;
        result.latencies.push(performance.now() - t);
      } else result.errors[status] = (result.errors[status] ?? 0) + 1;
    }
    result.pgTrips = counts.pg - p0;
    result.redisTrips = counts.redis - r0;
    if (profiler) result.profile = await profiler();
    reply(result);
  });
  reply('ready');
}

/**
 * The V8 CPU profiler (the one `node --cpu-prof` runs), on this thread only and for the measured
 * window only. Resolves with a function that stops it and returns the profile.
 */
async function startProfiler(intervalMicros: number): Promise<() => Promise<CpuProfile>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return profile as CpuProfile;
  };
}
