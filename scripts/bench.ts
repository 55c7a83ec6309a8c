/**
 * `npm run bench`: create-order throughput and latency against real PostgreSQL and Redis with a
 * zero-latency Stripe double in another process, next to "the limit": only the work a correct paid
 * order cannot avoid, measured the same way in the same run. Prints a table and writes BENCHMARKS.md.
 *
 * Concurrency C = C Lambda containers = C worker threads, each loading the deployed bundle on its own
 * (its own pool and Redis client) and serving one request at a time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import Redis from 'ioredis';
import { Client } from 'pg';
import { testEnvironment } from '../lib/config';
import { createPoolDb } from '../lib/db';
import { RESERVE } from '../lib/inventory/scripts';
import { loadStockMirror } from '../lib/inventory/stock';
import { dropDatabase, ensureDatabase, freePort, ROOT, redisAnswers, run, stopChild, waitUntil } from './local-stack';

const SECONDS = Number(process.env.BENCH_SECONDS || 4);
/** Orders each worker serves before the measured window (JIT-compiled code, open connections). */
const WARMUP_ORDERS = Number(process.env.BENCH_WARMUP_ORDERS || 200);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY || '1,8,32').split(',').map(Number);
const SPREAD_PRODUCTS = 1_000;
const FUNCTIONS = ['create-order', 'refund', 'stripe-webhook', 'get-order'] as const;

interface RunResult {
  orders: number;
  /** CPU ms spent in the measured window, per process group (see cpuTimes). */
  cpu: Record<string, number>;
  seconds: number;
  latencies: number[];
  pgTrips: number;
  redisTrips: number;
  errors: Record<string, number>;
}

/** Injected into both kinds of worker: counts round trips in `counts`. */
const ROUND_TRIP_COUNTER = `
// Round trips, counted at the sockets: a PostgreSQL round trip ends with a Sync ('S') or a simple
// Query ('Q') message (one statement's Parse/Bind/Execute/Sync may be several writes); a Redis one
// is one write (a command, a script call or a whole pipeline).
const { Socket } = require('node:net');
const write = Socket.prototype.write;
function pgRoundTrips(chunk) {
  const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  let n = 0, i = 0;
  if (b.length >= 8 && b[0] === 0) return 0; // startup / SSL request: connection set-up
  while (i + 5 <= b.length) { const t = b[i]; if (t === 0x53 || t === 0x51) n++; i += 1 + b.readInt32BE(i + 1); }
  return n;
}
Socket.prototype.write = function (chunk, ...rest) {
  if (this.remotePort === workerData.pgPort) counts.pg += pgRoundTrips(chunk);
  else if (this.remotePort === workerData.redisPort) counts.redis += 1;
  return write.call(this, chunk, ...rest);
};
`;

/**
 * Both kinds of worker define `setUp()` and `order(productId)` (resolves with the HTTP status, 201
 * when paid) and share this driver: warm up with a number of orders (a Lambda container serves
 * thousands in its life: its code is JIT-compiled, its connections open), then run until `until`.
 */
const DRIVER = `
const { parentPort } = require('node:worker_threads');
const pick = () => workerData.products[Math.floor(Math.random() * workerData.products.length)];
parentPort.on('message', async (message) => {
  if (message.warmUp) {
    await setUp();
    for (let i = 0; i < message.warmUp; i++) await order(pick());
    parentPort.postMessage('warm');
    return;
  }
  const latencies = []; const errors = {}; let orders = 0;
  const p0 = counts.pg, r0 = counts.redis;
  while (Date.now() < message.until) {
    const t = globalThis.performance.now();
    let status;
    try { status = await order(pick()); } catch (e) { status = e.message; }
    if (status === 201) { orders++; latencies.push(globalThis.performance.now() - t); } else errors[status] = (errors[status] || 0) + 1;
  }
  parentPort.postMessage({ orders, latencies, pgTrips: counts.pg - p0, redisTrips: counts.redis - r0, errors });
});
parentPort.postMessage('ready');
`;

/** The service: the deployed bundle, round trips counted at the sockets. */
const SERVICE_WORKER = `
const { workerData } = require('node:worker_threads');
// Log lines are built (JSON.stringify, as in Lambda) but not shipped: a worker thread's stdout goes
// through the main thread, which Lambda's own log shipping does not.
process.stdout.write = () => true;
const counts = { pg: 0, redis: 0 };
${ROUND_TRIP_COUNTER}
const { handler } = require(workerData.bundle);
const context = { awsRequestId: 'bench', getRemainingTimeInMillis: () => 28000 };
let n = 0;
async function setUp() {}
async function order(productId) {
  const res = await handler({ version: '2.0', routeKey: 'POST /orders', rawPath: '/orders',
    headers: { 'content-type': 'application/json', 'idempotency-key': workerData.prefix + '-' + (n++) },
    body: JSON.stringify({ customerId: 'cus_bench', paymentMethodId: 'pm_card_visa', items: [{ productId, quantity: 1 }] }), isBase64Encoded: false,
    requestContext: { http: { method: 'POST', path: '/orders' } } }, context);
  return res.statusCode;
}
${DRIVER}
`;

/**
 * The limit: what a correct paid order cannot avoid, each in the fewest round trips, no framework:
 * hold (one Lua call), order and its item recorded (one statement), one bare keep-alive HTTP request
 * to the same Stripe double, stock taken with a guard and the order marked paid (one statement), hold
 * cleared and result stored (one pipeline).
 */
const LIMIT_WORKER = `
const { workerData } = require('node:worker_threads');
const { randomUUID } = require('node:crypto');
const http = require('node:http');
const pg = require(workerData.pgPath);
const Redis = require(workerData.ioredisPath);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const db = new pg.Client({ connectionString: workerData.databaseUrl });
const redis = new Redis(workerData.redisUrl);
redis.defineCommand('reserve', { lua: workerData.reserveLua });
const counts = { pg: 0, redis: 0 };
${ROUND_TRIP_COUNTER}
const q = (text, params) => db.query(text, params);
function stripe(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(workerData.stripeUrl + '/v1/payment_intents', { method: 'POST', agent,
      headers: { authorization: 'Bearer sk_test_bench', 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => { let d = ''; res.on('data', (c) => d += c); res.on('end', () => resolve(JSON.parse(d))); });
    req.on('error', reject); req.end(body);
  });
}
async function setUp() { await db.connect(); }
async function order(productId) {
  const id = randomUUID(), key = 'limit-' + id;
  const held = await redis.reserve(4, 'reservation:' + id, 'stock:' + productId, 'held:' + productId, 'holds:' + productId, 900, id, productId, 1);
  if (held[0] !== 'ok') throw new Error('hold: ' + held.join(' '));
  await q("WITH o AS (INSERT INTO orders (id, idempotency_key, request_hash, customer_id, payment_method_id, status, amount_cents, currency) SELECT $1, $2, 'h', 'cus_bench', 'pm_card_visa', 'pending', p.price_cents, p.currency FROM products p WHERE p.id = $3 RETURNING id, amount_cents) INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) SELECT o.id, $3, 1, o.amount_cents FROM o", [id, key, productId]);
  const pi = await stripe('amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true&metadata[order_id]=' + id);
  const r = await q("WITH t AS (UPDATE inventory SET quantity = quantity - 1 WHERE product_id = $2 AND quantity >= 1 RETURNING 1) UPDATE orders SET status = 'paid', payment_intent_id = $3 WHERE id = $1 AND EXISTS (SELECT 1 FROM t) RETURNING id", [id, productId, pi.id]);
  if (r.rowCount !== 1) throw new Error('stock');
  await redis.multi().hdel('reservation:' + id, productId).zrem('holds:' + productId, id + '|1').decrby('held:' + productId, 1).set('idempotency:' + key, '{"done":1}', 'EX', 86400).exec();
  return 201;
}
${DRIVER}
`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Processes whose CPU time the benchmark accounts for, by group. */
interface CpuGroups {
  redisPid: number;
  doublePid: number;
}

/**
 * CPU ms used so far, per process: this one (all its worker threads), each PostgreSQL backend, our
 * Redis and the Stripe double. Keyed `group:pid`, so a process that exits is left out of a delta.
 */
function cpuTimes(groups: CpuGroups): Record<string, number> {
  // schedstat: nanoseconds on a CPU, exact (stat's tick counts miss the short bursts a backend runs in).
  const onCpuMs = (pid: string) =>
    readdirSync(`/proc/${pid}/task`).reduce(
      (ms, tid) => ms + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6,
      0,
    );
  const procs = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return [{ pid: Number(pid), comm, ppid, ms: () => onCpuMs(pid) }];
      } catch {
        return []; // gone meanwhile
      }
    });
  const parent = new Map(procs.map((p) => [p.pid, p.ppid]));
  const under = (pid: number, root: number): boolean => {
    for (let p: number | undefined = pid; p; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  const out: Record<string, number> = {};
  for (const p of procs) {
    const group =
      p.pid === process.pid
        ? 'workers'
        : p.comm === 'postgres'
          ? 'postgres'
          : p.pid === groups.redisPid
            ? 'redis'
            : under(p.pid, groups.doublePid)
              ? 'double'
              : undefined;
    if (!group) continue;
    try {
      out[`${group}:${p.pid}`] = p.ms();
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU ms per group between two cpuTimes() readings. */
function cpuSpent(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const spent: Record<string, number> = { workers: 0, postgres: 0, redis: 0, double: 0 };
  for (const [key, ms] of Object.entries(after)) {
    const group = key.slice(0, key.indexOf(':'));
    spent[group] = (spent[group] ?? 0) + ms - (before[key] ?? 0);
  }
  return spent;
}

async function runWorkers(
  code: string,
  concurrency: number,
  data: Record<string, unknown>,
  groups: CpuGroups,
): Promise<RunResult> {
  const workers = Array.from(
    { length: concurrency },
    (_, i) => new Worker(code, { eval: true, workerData: { ...data, prefix: `${randomUUID()}-${i}` } }),
  );
  const answer = <T>(w: Worker, message?: unknown) =>
    new Promise<T>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      if (message) w.postMessage(message);
    });
  await Promise.all(workers.map((w) => answer(w)));
  await Promise.all(workers.map((w) => answer(w, { warmUp: WARMUP_ORDERS })));
  const before = cpuTimes(groups);
  const until = Date.now() + SECONDS * 1000;
  const results = await Promise.all(workers.map((w) => answer<Omit<RunResult, 'seconds' | 'cpu'>>(w, { until })));
  // Read before the workers go: their connections close with them, and so do their backends.
  const after = cpuTimes(groups);
  await Promise.all(workers.map((w) => w.terminate()));
  const cpu = cpuSpent(before, after);
  const merged: RunResult = { orders: 0, cpu, seconds: SECONDS, latencies: [], pgTrips: 0, redisTrips: 0, errors: {} };
  for (const r of results) {
    merged.orders += r.orders;
    merged.latencies.push(...r.latencies);
    merged.pgTrips += r.pgTrips;
    merged.redisTrips += r.redisTrips;
    for (const [k, v] of Object.entries(r.errors)) merged.errors[k] = (merged.errors[k] ?? 0) + v;
  }
  merged.latencies.sort((a, b) => a - b);
  return merged;
}

async function buildBundles(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const fn of FUNCTIONS) {
    const outfile = join(dir, `${fn}.js`);
    // The options serverless-esbuild uses (serverless.yml custom.esbuild).
    await build({
      entryPoints: [join(ROOT, 'handlers', `${fn}.ts`)],
      bundle: true,
      minify: true,
      platform: 'node',
      target: 'node20',
      external: ['pg-native'],
      outfile,
      logLevel: 'error',
    });
    out[fn] = outfile;
  }
  return out;
}

/** Per function: a fresh process loads the bundle and serves one request; both timed inside it. */
function coldStart(bundle: string, env: NodeJS.ProcessEnv, fn: string): Promise<{ loadMs: number; firstMs: number }> {
  const event =
    fn === 'create-order'
      ? {
          headers: { 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
          body: JSON.stringify({
            customerId: 'c',
            paymentMethodId: 'pm_card_visa',
            items: [{ productId: 'sku_bench_hot', quantity: 1 }],
          }),
        }
      : fn === 'stripe-webhook'
        ? { headers: { 'stripe-signature': 't=1,v1=x' }, body: '{}' }
        : { headers: {}, pathParameters: { orderId: randomUUID() }, body: fn === 'refund' ? '{}' : undefined };
  const script = `
    const { performance } = require('node:perf_hooks');
    const t0 = performance.now();
    const { handler } = require(${JSON.stringify(bundle)});
    const t1 = performance.now();
    handler(${JSON.stringify({ version: '2.0', rawPath: '/', requestContext: { http: { method: 'POST' } }, isBase64Encoded: false })} && Object.assign(${JSON.stringify({ version: '2.0' })}, ${JSON.stringify(event)}), { awsRequestId: 'cold' })
      .then((r) => { process.stdout.write(JSON.stringify({ loadMs: t1 - t0, firstMs: performance.now() - t1, status: r.statusCode })); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => {
      try {
        const last = out.trim().split('\n').at(-1) ?? '';
        resolve(JSON.parse(last.slice(last.lastIndexOf('{"loadMs"'))));
      } catch (_error) {
        reject(new Error(`cold start of ${fn} failed: ${out}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const serverUrl = new URL(testEnvironment().databaseUrl);
    const databaseUrl = Object.assign(new URL(serverUrl), { pathname: '/orders_bench' }).toString();
    await dropDatabase(databaseUrl).catch(() => undefined);
    await ensureDatabase(databaseUrl);
    stops.push(() => dropDatabase(databaseUrl));

    const redisPort = await freePort();
    const redisChild = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    stops.push(() => stopChild(redisChild));
    const redisUrl = `redis://127.0.0.1:${redisPort}/0`;
    await waitUntil(() => redisAnswers(redisUrl), 10_000, 'redis-server did not start');

    const stripePort = await freePort();
    const double: ChildProcess = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(ROOT, 'scripts', 'stripe-double.ts'), String(stripePort)],
      { cwd: ROOT, stdio: 'ignore', env: { ...process.env, STRIPE_DOUBLE_WEBHOOK_URL: '' } },
    );
    stops.push(() => stopChild(double));
    const stripeUrl = `http://127.0.0.1:${stripePort}`;
    await waitUntil(
      () =>
        fetch(`${stripeUrl}/_double/stats`).then(
          () => true,
          () => false,
        ),
      20_000,
      'the Stripe double did not start',
    );

    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      STRIPE_SECRET_KEY: 'sk_test_bench',
      STRIPE_API_BASE: stripeUrl,
      STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    };
    await run('npm', ['run', '--silent', 'db:migrate'], env, true);
    Object.assign(process.env, env); // worker threads start with a copy of this environment

    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    stops.push(() => db.end());
    const spread = Array.from({ length: SPREAD_PRODUCTS }, (_, i) => `sku_bench_${String(i).padStart(4, '0')}`);
    const hot = ['sku_bench_hot'];
    await db.query(
      `INSERT INTO products (id, name, price_cents, currency) SELECT id, id, 1000, 'usd' FROM unnest($1::text[]) AS id`,
      [[...spread, ...hot]],
    );
    await db.query(`INSERT INTO inventory (product_id, quantity) SELECT id, 1000000000 FROM unnest($1::text[]) AS id`, [
      [...spread, ...hot],
    ]);
    // Both sides start with every stock mirror in Redis (the service would load a missing one itself).
    const mirrorDb = createPoolDb(databaseUrl, 1);
    const mirrorRedis = new Redis(redisUrl);
    await loadStockMirror(mirrorDb, mirrorRedis, [...spread, ...hot]);
    await mirrorDb.end();
    mirrorRedis.disconnect();

    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    const bundles = await buildBundles(dir);
    const common = {
      pgPath: require.resolve('pg'),
      ioredisPath: require.resolve('ioredis'),
      pgPort: Number(new URL(databaseUrl).port || 5432),
      redisPort,
      databaseUrl,
      redisUrl,
      stripeUrl,
      reserveLua: RESERVE,
    };

    const groups = { redisPid: redisChild.pid ?? -1, doublePid: double.pid ?? -1 };
    const rows: string[][] = [];
    const cpuRows: string[][] = [];
    const numbers: {
      catalogue: string;
      c: number;
      service: number;
      limit: number;
      p50: number;
      p99: number;
      limitP99: number;
    }[] = [];
    for (const [catalogue, products] of [
      ['1,000 products', spread],
      ['one hot product', hot],
    ] as const) {
      for (const c of CONCURRENCY) {
        const service = await runWorkers(
          SERVICE_WORKER,
          c,
          { ...common, bundle: bundles['create-order'], products },
          groups,
        );
        const limit = await runWorkers(LIMIT_WORKER, c, { ...common, products }, groups);
        const s = service.orders / service.seconds;
        const l = limit.orders / limit.seconds;
        const sp = (p: number) => percentile(service.latencies, p);
        const lp = (p: number) => percentile(limit.latencies, p);
        numbers.push({ catalogue, c, service: s, limit: l, p50: sp(50), p99: sp(99), limitP99: lp(99) });
        const errors = Object.keys(service.errors).length ? ` errors ${JSON.stringify(service.errors)}` : '';
        rows.push([
          catalogue,
          String(c),
          s.toFixed(0),
          `${sp(50).toFixed(1)} / ${sp(95).toFixed(1)} / ${sp(99).toFixed(1)}`,
          `${(service.pgTrips / Math.max(1, service.orders)).toFixed(1)} + ${(service.redisTrips / Math.max(1, service.orders)).toFixed(1)}`,
          l.toFixed(0),
          `${lp(50).toFixed(1)} / ${lp(95).toFixed(1)} / ${lp(99).toFixed(1)}`,
          `${(limit.pgTrips / Math.max(1, limit.orders)).toFixed(1)} + ${(limit.redisTrips / Math.max(1, limit.orders)).toFixed(1)}`,
          (s / l).toFixed(2) + errors,
        ]);
        process.stdout.write(`${rows.at(-1)?.join(' | ')}\n`);
        const perOrder = (r: RunResult) =>
          ['workers', 'postgres', 'redis', 'double'].map((k) => ((r.cpu[k] ?? 0) / Math.max(1, r.orders)).toFixed(2));
        const sum = (r: RunResult) => Object.values(r.cpu).reduce((a, b) => a + b, 0) / Math.max(1, r.orders);
        cpuRows.push([
          catalogue,
          String(c),
          perOrder(service).join(' / '),
          sum(service).toFixed(2),
          perOrder(limit).join(' / '),
          sum(limit).toFixed(2),
        ]);
      }
    }

    const cold: string[][] = [];
    for (const fn of FUNCTIONS) {
      const bundle = bundles[fn] as string;
      const times = await coldStart(bundle, env, fn);
      cold.push([
        fn,
        `${(statSync(bundle).size / 1024).toFixed(0)} KB`,
        times.loadMs.toFixed(0),
        times.firstMs.toFixed(0),
      ]);
    }

    const header = [
      'catalogue',
      'C',
      'service orders/s',
      'service p50 / p95 / p99 ms',
      'service PG + Redis trips/order',
      'limit orders/s',
      'limit p50 / p95 / p99 ms',
      'limit PG + Redis trips/order',
      'service / limit',
    ];
    const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
    const cpuTable = [
      [
        'catalogue',
        'C',
        'service CPU ms/order: workers / PostgreSQL / Redis / Stripe double',
        'service total',
        'limit CPU ms/order: workers / PostgreSQL / Redis / Stripe double',
        'limit total',
      ],
      ['---', '---', '---', '---', '---', '---'],
      ...cpuRows,
    ]
      .map((r) => `| ${r.join(' | ')} |`)
      .join('\n');
    const coldTable = [
      ['function', 'bundle (minified)', 'load ms', 'first request ms'],
      ['---', '---', '---', '---'],
      ...cold,
    ]
      .map((r) => `| ${r.join(' | ')} |`)
      .join('\n');
    const at = (cat: string, c: number) => numbers.find((n) => n.catalogue === cat && n.c === c);
    const targets = [
      `- ratio service/limit at least 0.7: ${numbers.map((n) => `${n.catalogue} C=${n.c}: ${(n.service / n.limit).toFixed(2)}`).join('; ')}`,
      `- hot product at least 0.8x the spread catalogue: ${CONCURRENCY.map((c) => `C=${c}: ${((at('one hot product', c)?.service ?? 0) / (at('1,000 products', c)?.service ?? 1)).toFixed(2)}`).join('; ')}`,
      `- p99 at C=32 at most 4x its p50, and no worse than the limit's p99: ${numbers
        .filter((n) => n.c === 32)
        .map(
          (n) =>
            `${n.catalogue}: p99/p50 ${(n.p99 / n.p50).toFixed(1)}, p99 ${n.p99.toFixed(1)} ms vs limit ${n.limitP99.toFixed(1)} ms`,
        )
        .join('; ')}`,
    ].join('\n');
    const versions = await db.query<{ server_version: string }>('SHOW server_version');
    const infoClient = new Redis(redisUrl);
    const redisInfo = (await infoClient.info('server')).match(/redis_version:(\S+)/)?.[1];
    infoClient.disconnect();
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, PostgreSQL ${versions.rows[0]?.server_version}, Redis ${redisInfo}`;
    const doc = `# Benchmarks

Command: \`npm run bench\` (${SECONDS} s measured per row after each worker's ${WARMUP_ORDERS} warm-up orders; \`BENCH_SECONDS\`, \`BENCH_WARMUP_ORDERS\` to change).
Machine: ${machine}. Date: ${new Date().toISOString()}.

Create-order, paid path. C = concurrency = C Lambda containers (worker threads, each loading the
deployed esbuild bundle with its own pool and Redis client, one request at a time). Stripe is the
zero-latency double (\`scripts/stripe-double.ts\`) in another process. "The limit" does only what a
correct paid order cannot avoid, each in the fewest round trips and with no framework: hold (one Lua
call), order and items (one statement), one bare keep-alive HTTP request to the same double, stock
taken with a guard and order paid (one statement), hold cleared and result stored (one pipeline).
Round trips are counted at the sockets (writes to PostgreSQL's and Redis's ports).

${table}

Where the time goes: CPU per paid order, read from /proc/*/task/*/schedstat over the same window
(the worker threads of this process; every PostgreSQL process; the Redis server; the Stripe double). With
${cpus().length} cores, throughput at C >= 8 is what the cores can do divided by the total.

${cpuTable}

Targets:
${targets}

Cold start (a new process loads the bundle, then serves one request; PostgreSQL and Redis local):

${coldTable}
`;
    writeFileSync(join(ROOT, 'BENCHMARKS.md'), doc);
    process.stdout.write(`\n${doc}\nwritten to BENCHMARKS.md\n`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
