/** The tables `npm run bench` prints and writes to BENCHMARKS.md. */
import { CPU_GROUPS } from './cpu';
import { grouped, type Ownership } from './profile';
import { percentile, type RunResult } from './workers';

export const SUBJECTS = ['service', 'limitSdk', 'limit'] as const;
export type Subject = (typeof SUBJECTS)[number];
export const LABEL: Record<Subject, string> = {
  service: 'service',
  limitSdk: 'limit through the SDK',
  limit: 'limit',
};

export interface Row {
  catalogue: string;
  c: number;
  runs: Record<Subject, RunResult>;
}

const table = (header: string[], rows: string[][]) =>
  [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
const rate = (r: RunResult) => r.orders / r.seconds;
const perOrder = (n: number, r: RunResult) => n / Math.max(1, r.orders);
const ms = (n: number) => n.toFixed(1);

/** One line per run, as the bench goes. */
export function runLine(catalogue: string, c: number, subject: Subject, r: RunResult): string[] {
  const errors = Object.keys(r.errors).length ? ` errors ${JSON.stringify(r.errors)}` : '';
  return [
    catalogue,
    String(c),
    LABEL[subject],
    rate(r).toFixed(0),
    `${ms(percentile(r.latencies, 50))} / ${ms(percentile(r.latencies, 95))} / ${ms(percentile(r.latencies, 99))}`,
    `${perOrder(r.pgTrips, r).toFixed(1)} + ${perOrder(r.redisTrips, r).toFixed(1)} + ${perOrder(r.stripeTrips, r).toFixed(1)}`,
    errors,
  ];
}

export function throughputTable(rows: Row[]): string {
  return table(
    ['catalogue', 'C', 'run', 'orders/s', 'p50 / p95 / p99 ms', 'PG + Redis + Stripe trips/order', '÷ limit'],
    rows.flatMap((row) =>
      SUBJECTS.map((s) => {
        const [catalogue, c, run, orders, latency, trips, errors] = runLine(row.catalogue, row.c, s, row.runs[s]);
        const ratio = (rate(row.runs[s]) / rate(row.runs.limit)).toFixed(2);
        return [catalogue, c, s === 'service' ? `**${run}**` : run, orders, latency, trips, ratio + errors] as string[];
      }),
    ),
  );
}

/** The three side by side: what the service reaches, and what the SDK alone costs the limit. */
export function ratioTable(rows: Row[]): string {
  return table(
    ['catalogue', 'C', 'service ÷ limit', 'limit through the SDK ÷ limit', 'service ÷ limit through the SDK'],
    rows.map(({ catalogue, c, runs }) => [
      catalogue,
      String(c),
      (rate(runs.service) / rate(runs.limit)).toFixed(2),
      (rate(runs.limitSdk) / rate(runs.limit)).toFixed(2),
      (rate(runs.service) / rate(runs.limitSdk)).toFixed(2),
    ]),
  );
}

/** C=1, the three alive at once and measured in turns: throughput, latency, CPU per order. */
export function turnsTable(turns: Record<Subject, RunResult>): string {
  const total = (r: RunResult) => CPU_GROUPS.reduce((sum, g) => sum + r.cpu[g], 0);
  return table(
    [
      'run',
      'orders/s',
      'p50 / p95 / p99 ms',
      'CPU ms/order: workers / PostgreSQL / Redis / Stripe double',
      'CPU total',
      'orders/s ÷ limit',
    ],
    SUBJECTS.map((s) => {
      const r = turns[s];
      return [
        s === 'service' ? `**${LABEL[s]}**` : LABEL[s],
        rate(r).toFixed(0),
        `${ms(percentile(r.latencies, 50))} / ${ms(percentile(r.latencies, 95))} / ${ms(percentile(r.latencies, 99))}`,
        CPU_GROUPS.map((g) => perOrder(r.cpu[g], r).toFixed(2)).join(' / '),
        perOrder(total(r), r).toFixed(2),
        (rate(r) / rate(turns.limit)).toFixed(2),
      ];
    }),
  );
}

export function cpuTable(rows: Row[]): string {
  const total = (r: RunResult) => CPU_GROUPS.reduce((sum, g) => sum + r.cpu[g], 0);
  return table(
    ['catalogue', 'C', 'run', 'CPU ms/order: workers / PostgreSQL / Redis / Stripe double', 'total'],
    rows.flatMap((row) =>
      SUBJECTS.map((s) => {
        const r = row.runs[s];
        return [
          row.catalogue,
          String(row.c),
          LABEL[s],
          CPU_GROUPS.map((g) => perOrder(r.cpu[g], r).toFixed(2)).join(' / '),
          perOrder(total(r), r).toFixed(2),
        ];
      }),
    ),
  );
}

export function targets(rows: Row[], concurrency: number[]): string {
  const at = (catalogue: string, c: number) => rows.find((r) => r.catalogue === catalogue && r.c === c);
  const ratio = (a: RunResult | undefined, b: RunResult | undefined) => (a && b ? (rate(a) / rate(b)).toFixed(2) : '-');
  return [
    `- ratio service/limit at least 0.7: ${rows.map((r) => `${r.catalogue} C=${r.c}: ${ratio(r.runs.service, r.runs.limit)}`).join('; ')}`,
    `- hot product at least 0.8x the spread catalogue: ${concurrency
      .map((c) => `C=${c}: ${ratio(at('one hot product', c)?.runs.service, at('1,000 products', c)?.runs.service)}`)
      .join('; ')}`,
    `- p99 at C=32 at most 4x its p50, and no worse than the limit's p99: ${
      rows
        .filter((r) => r.c === 32)
        .map((r) => {
          const p = (s: Subject, q: number) => percentile(r.runs[s].latencies, q);
          return `${r.catalogue}: p99/p50 ${(p('service', 99) / p('service', 50)).toFixed(1)}, p99 ${ms(p('service', 99))} ms vs limit ${ms(p('limit', 99))} ms`;
        })
        .join('; ') || 'no C=32 in this run'
    }`,
  ].join('\n');
}

export interface Profiled {
  orders: Record<Subject, number>;
  ownership: Record<Subject, Ownership>;
}

const cell = (o: Ownership, owner: string, orders: number, key: 'self' | 'withNode') =>
  ((o.owners.get(owner)?.[key] ?? 0) / Math.max(1, orders)).toFixed(2);

/** Grouped: our code, middy, each client library, Node with no package on the stack, GC. */
export function profileGroupTable(p: Profiled): string {
  const g = {
    service: grouped(p.ownership.service),
    limitSdk: grouped(p.ownership.limitSdk),
    limit: grouped(p.ownership.limit),
  };
  const owners = [...new Set(SUBJECTS.flatMap((s) => [...g[s].owners.keys()]))].sort(
    (a, b) => (g.service.owners.get(b)?.withNode ?? 0) - (g.service.owners.get(a)?.withNode ?? 0),
  );
  const busy = (s: Subject) => (g[s].busyMs / Math.max(1, p.orders[s])).toFixed(2);
  return table(
    ['who (with the Node internals it called)', ...SUBJECTS.map((s) => `${LABEL[s]} ms/order`), 'service share'],
    [
      ...owners.map((owner) => [
        owner,
        ...SUBJECTS.map((s) => cell(g[s], owner, p.orders[s], 'withNode')),
        `${((100 * (g.service.owners.get(owner)?.withNode ?? 0)) / Math.max(1, g.service.busyMs)).toFixed(0)}%`,
      ]),
      ['**busy (all of the above)**', ...SUBJECTS.map(busy), '100%'],
    ],
  );
}

/** Each package and each of our modules that took at least `floor` of the service's busy time. */
export function profileOwnerTable(p: Profiled, floor = 0.01): string {
  const o = p.ownership;
  const all = [...new Set(SUBJECTS.flatMap((s) => [...o[s].owners.keys()]))];
  const share = (s: Subject, owner: string) => (o[s].owners.get(owner)?.self ?? 0) / Math.max(1, o[s].busyMs);
  const shown = all
    .filter((owner) => SUBJECTS.some((s) => share(s, owner) >= floor))
    .sort((a, b) => (o.service.owners.get(b)?.self ?? 0) - (o.service.owners.get(a)?.self ?? 0));
  const rest = (s: Subject, key: 'self' | 'withNode') =>
    (
      all
        .filter((owner) => !shown.includes(owner))
        .reduce((sum, owner) => sum + (o[s].owners.get(owner)?.[key] ?? 0), 0) / Math.max(1, p.orders[s])
    ).toFixed(2);
  return table(
    ['owner', ...SUBJECTS.map((s) => `${LABEL[s]}: self / with Node it called, ms/order`)],
    [
      ...shown.map((owner) => [
        owner,
        ...SUBJECTS.map(
          (s) => `${cell(o[s], owner, p.orders[s], 'self')} / ${cell(o[s], owner, p.orders[s], 'withNode')}`,
        ),
      ]),
      [
        `everything under ${floor * 100}% of each`,
        ...SUBJECTS.map((s) => `${rest(s, 'self')} / ${rest(s, 'withNode')}`),
      ],
    ],
  );
}

export function coldTable(rows: { fn: string; kb: number; loadMs: number; firstMs: number }[]): string {
  return table(
    ['function', 'bundle (minified)', 'load ms', 'first request ms'],
    rows.map((r) => [r.fn, `${r.kb.toFixed(0)} KB`, r.loadMs.toFixed(0), r.firstMs.toFixed(0)]),
  );
}

/** What this run's figures say, in sentences computed from them (so they never go stale). */
export function reading(rows: Row[], turns: Record<Subject, RunResult>, p: Profiled | undefined): string {
  const range = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const [lo, hi] = [sorted[0] ?? Number.NaN, sorted.at(-1) ?? Number.NaN];
    return lo.toFixed(2) === hi.toFixed(2) ? lo.toFixed(2) : `${lo.toFixed(2)}-${hi.toFixed(2)}`;
  };
  const ratios = (a: Subject, b: Subject) => range(rows.map((r) => rate(r.runs[a]) / rate(r.runs[b])));
  const cpu = (s: Subject) => perOrder(turns[s].cpu.workers, turns[s]);
  const lines = [
    `- In turns (C=1): the limit through the SDK reached ${(rate(turns.limitSdk) / rate(turns.limit)).toFixed(2)} of the limit's` +
      ` orders/s, the service ${(rate(turns.service) / rate(turns.limit)).toFixed(2)}; worker CPU per order: service` +
      ` ${cpu('service').toFixed(2)} ms, limit through the SDK ${cpu('limitSdk').toFixed(2)} ms, limit ${cpu('limit').toFixed(2)} ms.`,
    `- One after another, over the ${rows.length} rows: the limit through the SDK reached ${ratios('limitSdk', 'limit')} of the limit;` +
      ` the service ${ratios('service', 'limit')} of the limit and ${ratios('service', 'limitSdk')} of the limit through the SDK.`,
  ];
  if (p) {
    const g = {
      service: grouped(p.ownership.service),
      limitSdk: grouped(p.ownership.limitSdk),
      limit: grouped(p.ownership.limit),
    };
    const busy = (s: Subject) => g[s].busyMs / Math.max(1, p.orders[s]);
    const of = (s: Subject, owner: string) => (g[s].owners.get(owner)?.withNode ?? 0) / Math.max(1, p.orders[s]);
    const extra = [...new Set([...g.service.owners.keys(), ...g.limitSdk.owners.keys()])]
      .map((owner) => ({ owner, ms: of('service', owner) - of('limitSdk', owner) }))
      .filter((d) => d.ms >= 0.05)
      .sort((a, b) => b.ms - a.ms);
    lines.push(
      `- Profiled (in turns, C=1), busy ms per order: service ${busy('service').toFixed(2)}, limit through the SDK` +
        ` ${busy('limitSdk').toFixed(2)}, limit ${busy('limit').toFixed(2)}. The SDK path costs the limit` +
        ` ${(busy('limitSdk') - busy('limit')).toFixed(2)} ms; the service spends ${(busy('service') - busy('limitSdk')).toFixed(2)} ms` +
        ` more than the limit through the SDK, most of it in: ${extra
          .slice(0, 6)
          .map((d) => `${d.owner} +${d.ms.toFixed(2)}`)
          .join(', ')}.`,
    );
  }
  return lines.join('\n');
}

export interface Settings {
  seconds: number;
  /** Rounds of the in-turns measurements. */
  turns: number;
  warmUpOrders: number;
  concurrency: number[];
  profileOrders: number;
  profileIntervalMicros: number;
}

/** BENCHMARKS.md: how it was measured, then every table of the run. */
export function benchmarksDocument(o: {
  settings: Settings;
  machine: string;
  cores: number;
  rows: Row[];
  turns: Record<Subject, RunResult>;
  profiled?: Profiled;
  cold: string;
  minutes: number;
}): string {
  const { seconds, warmUpOrders, concurrency, profileOrders, profileIntervalMicros } = o.settings;
  const profile = o.profiled
    ? `## Where a container's CPU goes

The same three containers, in turns again (${profileOrders} orders each in all), under the V8 CPU
profiler (what \`node --cpu-prof\` runs; started through \`node:inspector\` for each measured slice
only, sampling every ${profileIntervalMicros} µs). Each sample's function is looked up in
its bundle's source map, so its time lands on the package (\`node_modules/<package>\`) or our own
module it was written in. "With Node it called": Node's internals and native code charged to the
nearest package or module of ours above them on the stack (socket writes to the client library that
wrote, JSON.stringify to whoever called it). What has none of ours on its stack is split by what is:
Node's HTTP client (a request's headers and body are written on the next tick, its answer parsed
from a socket read: in all three, that is the Stripe call), sockets and streams (reads before they
reach pg or ioredis), and the rest (microtasks, timers). The profiler slows a worker down, all three
alike: compare the columns with each other, not with the tables above.

${profileGroupTable(o.profiled)}

Each package and module that took at least 1% of one of the three (self time / with the Node it called):

${profileOwnerTable(o.profiled)}
`
    : '(profile skipped: BENCH_PROFILE_ORDERS=0)\n';
  return `# Benchmarks

Command: \`npm run bench\` (${seconds} s measured per row after each worker's ${warmUpOrders} warm-up orders;
\`BENCH_SECONDS\`, \`BENCH_WARMUP_ORDERS\`, \`BENCH_CONCURRENCY\`, \`BENCH_PROFILE_ORDERS\` to change). This run
took ${o.minutes.toFixed(0)} minutes.
Machine: ${o.machine}. Date: ${new Date().toISOString()}.
The machine is shared (other people's test suites run on the same 2 cores and the same PostgreSQL
server): figures move by tens of percent from one run to the next. Compare the figures of one run
with each other, never with another run's.

Create-order, paid path. C = concurrency = C Lambda containers (worker threads, each loading its
program, built like the deployed functions, with its own pool and Redis client, one request at a
time). Stripe is the zero-latency double (\`scripts/stripe-double.ts\`) in another process.
- **service**: the deployed create-order bundle (\`scripts/bench/service-worker.ts\`).
- **limit**: only what a correct paid order cannot avoid, each in the fewest round trips and with no
  framework (\`scripts/bench/limit-worker.ts\`): hold (one Lua call), order and items (one statement),
  one bare keep-alive HTTP request to the same double creating the same PaymentIntent with the same
  Idempotency-Key, stock taken with a guard and order paid (one statement), hold cleared and result
  stored (one pipeline).
- **limit through the SDK**: the limit, its Stripe call made through the service's own Stripe client
  and payments adapter (\`lib/payments\`: the same SDK and version, telemetry off, one retry): what
  the Stripe SDK alone costs.

Round trips are counted at the sockets (writes to PostgreSQL's and Redis's ports) and, for Stripe, by the double.

${reading(o.rows, o.turns, o.profiled)}

### In turns

One container (C=1, 1,000 products) of each, all three alive at once after their warm-up, measured
in slices taken in rotation (${o.settings.turns} rounds, ${(2 * seconds).toFixed(0)} s each in all): whatever else the machine
does at the time weighs on the three alike. The closest this machine gets to a fair side by side.

${turnsTable(o.turns)}

### One after another

Each catalogue and C, the three measured one after another, each with a fleet of its own: at C >= 8
the cores are saturated, and what else runs on the machine during one of the three and not the
others moves its figure.

${ratioTable(o.rows)}

${throughputTable(o.rows)}

CPU per paid order, read from /proc/*/task/*/schedstat over the same window: the worker threads of
the bench process; the PostgreSQL backends serving the bench's database (not the shared server's
other backends nor its background processes); the bench's own Redis server; the Stripe double. With
${o.cores} cores, throughput at C >= 8 is what the cores can do divided by the total.

${cpuTable(o.rows)}

Targets:
${targets(o.rows, concurrency)}

${profile}
## Cold start

A new process loads the bundle, then serves one request; PostgreSQL and Redis local:

${o.cold}
`;
}
