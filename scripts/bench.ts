/**
 * `npm run bench`: create-order throughput and latency against real PostgreSQL and Redis with a
 * zero-latency Stripe double in another process, next to "the limit" (only the work a correct paid
 * order cannot avoid) and the limit with its one Stripe call made through the service's own Stripe
 * SDK client, all measured the same way in the same run. Then a CPU profile of one container of
 * each, and cold starts. Prints the tables and writes BENCHMARKS.md.
 *
 * Concurrency C = C Lambda containers = C worker threads (scripts/bench/*-worker.ts, built like the
 * deployed functions), each loading its program on its own (its own pool and Redis client) and
 * serving one request at a time.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { RESERVE } from '../lib/inventory/scripts';
import { buildFunctions, buildWorkers, FUNCTIONS } from './bench/build';
import { coldStart } from './bench/cold-start';
import { ownership } from './bench/profile';
import type { LimitWorkerData, ServiceWorkerData, WorkerData } from './bench/protocol';
import {
  benchmarksDocument,
  coldTable,
  LABEL,
  type Profiled,
  type Row,
  runLine,
  SUBJECTS,
  type Subject,
} from './bench/report';
import { startBenchStack } from './bench/stack';
import { type Fleet, merge, type RunResult, startFleet, type Window } from './bench/workers';
import { ROOT } from './local-stack';

const SECONDS = Number(process.env.BENCH_SECONDS || 4);
/** Orders each worker serves before the measured window (JIT-compiled code, open connections). */
const WARMUP_ORDERS = Number(process.env.BENCH_WARMUP_ORDERS || 200);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY || '1,8,32').split(',').map(Number);
/** Orders in each profiled window (one container, C=1); 0 skips the profile. */
const PROFILE_ORDERS = Number(process.env.BENCH_PROFILE_ORDERS ?? 3000);
/** Rounds of the in-turns measurements (C=1): each subject's share is cut in this many slices. */
const TURNS = 6;
/** Fine enough for a few ms of CPU per order, coarse enough not to slow the worker much. */
const PROFILE_INTERVAL_MICROS = 500;
/** Created and dropped by the run, on the test PostgreSQL server (TEST_DATABASE_URL). */
const DATABASE = process.env.BENCH_DATABASE || 'orders_bench';

async function main(): Promise<void> {
  const started = Date.now();
  const stack = await startBenchStack(DATABASE);
  // Ctrl-C: still drop the database and stop the Redis server and the double this run started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stack.stop().finally(() => process.exit(130)));
  }
  try {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    const bundles = await buildFunctions(dir);
    const workers = await buildWorkers(dir);
    Object.assign(process.env, stack.env); // worker threads start with a copy of this environment
    const common: Omit<WorkerData, 'prefix' | 'products'> = {
      pgPort: stack.pgPort,
      redisPort: stack.redisPort,
      databaseUrl: stack.databaseUrl,
      redisUrl: stack.redisUrl,
      stripeUrl: stack.stripeUrl,
    };
    const meters = { cpuScope: stack.cpuScope, stripeRequests: stack.stripeRequests };
    const fleetOf = (subject: Subject, products: string[], concurrency: number): Promise<Fleet> => {
      if (subject === 'service') {
        const data = { ...common, products, bundle: bundles['create-order'] };
        return startFleet<ServiceWorkerData>(workers['service-worker'], data, concurrency, meters);
      }
      const data = {
        ...common,
        products,
        stripe: subject === 'limitSdk' ? 'sdk' : 'http',
        reserveLua: RESERVE,
      } as const;
      return startFleet<LimitWorkerData>(workers['limit-worker'], data, concurrency, meters);
    };

    // The rows: for each catalogue and C, the three one after another, each its own fleet.
    const rows: Row[] = [];
    for (const { name: catalogue, products } of stack.catalogues) {
      for (const c of CONCURRENCY) {
        const runs = {} as Record<Subject, RunResult>;
        for (const subject of SUBJECTS) {
          const fleet = await fleetOf(subject, products, c);
          try {
            await fleet.warmUp(WARMUP_ORDERS);
            runs[subject] = await fleet.measure({ seconds: SECONDS });
          } finally {
            await fleet.stop();
          }
          process.stdout.write(`${runLine(catalogue, c, subject, runs[subject]).join(' | ')}\n`);
        }
        rows.push({ catalogue, c, runs });
      }
    }

    // In turns: one container of each alive at once, measured in short slices taken in rotation, so
    // that whatever else this machine does at the time weighs on the three alike. Then profiled the same way.
    const spread = stack.catalogues[0]?.products ?? [];
    const fleets = {} as Record<Subject, Fleet>;
    const turns = {} as Record<Subject, RunResult>;
    let profiled: Profiled | undefined;
    try {
      for (const subject of SUBJECTS) {
        fleets[subject] = await fleetOf(subject, spread, 1);
        await fleets[subject].warmUp(WARMUP_ORDERS);
      }
      const inTurns = async (rounds: number, window: Window) => {
        const slices = Object.fromEntries(SUBJECTS.map((s) => [s, [] as RunResult[]])) as Record<Subject, RunResult[]>;
        for (let round = 0; round < rounds; round++) {
          // Each round in another order: none of the three is always first after another one.
          for (const subject of [...SUBJECTS.slice(round % 3), ...SUBJECTS.slice(0, round % 3)]) {
            slices[subject].push(await fleets[subject].measure(window));
          }
        }
        return Object.fromEntries(SUBJECTS.map((s) => [s, merge(slices[s])])) as Record<Subject, RunResult>;
      };
      Object.assign(turns, await inTurns(TURNS, { seconds: (2 * SECONDS) / TURNS }));
      process.stdout.write(
        `in turns: ${SUBJECTS.map((s) => `${LABEL[s]} ${(turns[s].orders / turns[s].seconds).toFixed(0)}/s`).join(', ')}\n`,
      );
      if (PROFILE_ORDERS > 0) {
        const window = {
          seconds: 600,
          orders: Math.ceil(PROFILE_ORDERS / TURNS),
          profile: { intervalMicros: PROFILE_INTERVAL_MICROS },
        };
        const runs = await inTurns(TURNS, window);
        profiled = {
          orders: Object.fromEntries(SUBJECTS.map((s) => [s, runs[s].orders])) as Profiled['orders'],
          ownership: Object.fromEntries(SUBJECTS.map((s) => [s, ownership(runs[s].profiles)])) as Profiled['ownership'],
        };
        for (const subject of SUBJECTS) {
          for (const [i, p] of runs[subject].profiles.entries()) {
            writeFileSync(join(dir, `${subject}-${i}.cpuprofile`), JSON.stringify(p));
          }
        }
        process.stdout.write(`profiles (Chrome DevTools, with the bundles' source maps) in ${dir}\n`);
      }
    } finally {
      await Promise.all(Object.values(fleets).map((f) => f.stop()));
    }

    const cold = [];
    for (const fn of FUNCTIONS) {
      const times = await coldStart(workers['cold-start-child'], bundles[fn], fn, stack.env);
      cold.push({ fn, kb: statSync(bundles[fn]).size / 1024, ...times });
    }

    const versions = await stack.db.query<{ server_version: string }>('SHOW server_version');
    const infoClient = new Redis(stack.redisUrl);
    const redisVersion = (await infoClient.info('server')).match(/redis_version:(\S+)/)?.[1];
    infoClient.disconnect();
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, PostgreSQL ${versions.rows[0]?.server_version}, Redis ${redisVersion}`;
    const doc = benchmarksDocument({
      settings: {
        seconds: SECONDS,
        turns: TURNS,
        warmUpOrders: WARMUP_ORDERS,
        concurrency: CONCURRENCY,
        profileOrders: PROFILE_ORDERS,
        profileIntervalMicros: PROFILE_INTERVAL_MICROS,
      },
      machine,
      cores: cpus().length,
      rows,
      turns,
      profiled,
      cold: coldTable(cold),
      minutes: (Date.now() - started) / 60_000,
    });
    writeFileSync(join(ROOT, 'BENCHMARKS.md'), doc);
    process.stdout.write(`\n${doc}\nwritten to BENCHMARKS.md\n`);
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
