import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda';
import Redis from 'ioredis';
import { Client } from 'pg';
import Stripe from 'stripe';
import {
  dropDatabase,
  ensureDatabase,
  freePort,
  ROOT,
  redisAnswers,
  run,
  stopChild,
  waitUntil,
} from '../../scripts/local-stack';
import { type StripeDouble, type StripeDoubleOptions, startStripeDouble } from '../../scripts/stripe-double';
import { testEnvironment } from '../../scripts/test-environment';
import { apiGatewayEvent } from '../helpers/events';
import type { HandlerName } from './lambda-worker';

/**
 * The system tier's world: committed data in a scratch database, a Redis server of its own (so
 * FLUSHALL is real and harms nobody), the Stripe double, and Lambda containers as processes.
 */
export const WEBHOOK_SECRET = 'whsec_system_0123456789abcdef';

export interface SystemStack {
  databaseUrl: string;
  redisUrl: string;
  db: Client;
  redis: Redis;
  double: StripeDouble;
  env: NodeJS.ProcessEnv;
  containers: Container[];
  container(env?: NodeJS.ProcessEnv): Promise<Container>;
  stop(): Promise<void>;
}

export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  /** Parsed JSON: tests read any field of it (biome.json lets tests use `any`). */
  body: any;
}

/**
 * What one HTTP answer was, for a race's tally: "refund 422 refund_quantity_exceeded",
 * "webhook 200 duplicate", "adjust 201 replayed".
 */
export function answerOf(route: string, r: HttpResult): string {
  const code = r.body?.error?.code as string | undefined;
  const replayed = r.headers?.['Idempotent-Replayed'] === 'true' ? ' replayed' : '';
  return `${route} ${r.statusCode}${code ? ` ${code}` : ''}${r.body?.duplicate === true ? ' duplicate' : ''}${replayed}`;
}

/** Every answer of a scenario, counted; a 5xx is also a problem of its repetition. */
export class Tally {
  private readonly counts = new Map<string, number>();
  count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  add(route: string, r: HttpResult, problems: string[]): HttpResult {
    const key = answerOf(route, r);
    this.count(key);
    if (r.statusCode >= 500) problems.push(`${key}: ${JSON.stringify(r.body?.error ?? r.body)}`);
    return r;
  }
  toString(): string {
    return [...this.counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `${k} x${n}`)
      .join(', ');
  }
}

/** A Lambda container: its own process, one request at a time. */
export class Container {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: HttpResult) => void; reject: (e: Error) => void }>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id?: number; result?: APIGatewayProxyResult; error?: string }) => {
      if (m.id === undefined) return;
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error || !m.result) w?.reject(new Error(m.error ?? 'no result'));
      else
        w?.resolve({
          statusCode: m.result.statusCode,
          headers: (m.result.headers ?? {}) as Record<string, string>,
          body: m.result.body ? JSON.parse(m.result.body) : undefined,
        });
    });
    child.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error('container died'));
      this.waiting.clear();
    });
  }

  static async start(env: NodeJS.ProcessEnv): Promise<Container> {
    const child = fork(join(__dirname, 'lambda-worker.ts'), [], {
      cwd: ROOT,
      env,
      execArgv: ['--require', join(ROOT, 'scripts', 'text-loader.cjs'), '--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`container exited (${code}) before it was ready`)));
    });
    return new Container(child);
  }

  /** Invokes `name` with `event`, after the requests already sent to this container. */
  invoke(name: HandlerName, event: APIGatewayProxyEventV2): Promise<HttpResult> {
    const run = () =>
      new Promise<HttpResult>((resolve, reject) => {
        const id = this.nextId++;
        this.waiting.set(id, { resolve, reject });
        this.child.send({ id, name, event });
      });
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  placeOrder(body: unknown, idempotencyKey: string = randomUUID()): Promise<HttpResult> {
    return this.invoke(
      'createOrder',
      apiGatewayEvent({ method: 'POST', path: '/orders', headers: { 'idempotency-key': idempotencyKey }, body }),
    );
  }

  /** POST /orders/{orderId}/refunds; no body (undefined) means "refund everything". */
  refund(orderId: string, body?: unknown, idempotencyKey?: string): Promise<HttpResult> {
    const path = `/orders/${orderId}/refunds`;
    return this.invoke(
      'refund',
      apiGatewayEvent({
        method: 'POST',
        path,
        routeKey: 'POST /orders/{orderId}/refunds',
        pathParameters: { orderId },
        ...(idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': idempotencyKey } }),
        ...(body === undefined ? { rawBody: '' } : { body }),
      }),
    );
  }

  /** POST /webhooks/stripe with a Stripe event, signed with the stack's webhook secret as Stripe signs it. */
  webhook(
    type: string,
    object: Record<string, unknown>,
    created: number,
    eventId: string = `evt_sys_${randomUUID().replace(/-/g, '')}`,
  ): Promise<HttpResult> {
    const payload = stripeEventPayload(type, object, created, eventId);
    return this.invoke(
      'stripeWebhook',
      apiGatewayEvent({
        method: 'POST',
        path: '/webhooks/stripe',
        rawBody: payload,
        headers: { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: WEBHOOK_SECRET }) },
      }),
    );
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  stop(): Promise<void> {
    return stopChild(this.child);
  }
}

/** A Stripe event as Stripe sends it (the raw JSON body that is signed). */
export function stripeEventPayload(
  type: string,
  object: Record<string, unknown>,
  created: number,
  eventId: string,
): string {
  return JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: null,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    created,
    data: { object },
  });
}

export async function startSystemStack(
  o: { databaseUrl?: string; double?: StripeDoubleOptions; env?: NodeJS.ProcessEnv } = {},
): Promise<SystemStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const databaseUrl =
      o.databaseUrl ??
      Object.assign(new URL(testEnvironment().databaseUrl), {
        pathname: `/orders_system_${randomUUID().slice(0, 8)}`,
      }).toString();
    await ensureDatabase(databaseUrl);
    if (!o.databaseUrl) stops.push(() => dropDatabase(databaseUrl));
    const redisUrl = await startOwnRedis(stops);
    const double = await startStripeDouble(o.double ?? {});
    stops.push(double.close);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      STRIPE_SECRET_KEY: 'sk_test_system_double',
      STRIPE_API_BASE: double.url,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // A crashed request's key and order can be resumed after 2 s instead of 60 s.
      REQUEST_LOCK_SECONDS: '2',
      STRIPE_TIMEOUT_MS: '1000',
      // No AWS here: the outbox's events are logged instead of sent to EventBridge.
      EVENTS_LOG_ONLY: 'true',
      ...o.env,
    };
    await run('npm', ['run', '--silent', 'db:migrate'], { ...env }, true);
    const db = new Client({ connectionString: databaseUrl });
    db.on('error', () => undefined);
    await db.connect();
    stops.push(() => db.end());
    const redis = new Redis(redisUrl);
    stops.push(async () => redis.disconnect());
    const containers: Container[] = [];
    stops.push(async () => {
      await Promise.all(containers.map((c) => c.stop()));
    });
    return {
      databaseUrl,
      redisUrl,
      db,
      redis,
      double,
      env,
      containers,
      container: async (extra = {}) => {
        const c = await Container.start({ ...env, ...extra });
        containers.push(c);
        return c;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A redis-server of the suite's own on a free port, data nowhere on disk. */
async function startOwnRedis(stops: (() => Promise<void>)[]): Promise<string> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'system-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  stops.push(async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `redis://127.0.0.1:${port}/0`;
  await waitUntil(() => redisAnswers(url), 10_000, 'redis-server did not start');
  return url;
}

export async function givenProduct(db: Client, stock: number, priceCents = 1000): Promise<string> {
  const id = `sku_sys_${randomUUID().slice(0, 8)}`;
  await db.query('INSERT INTO products (id, name, price_cents, currency) VALUES ($1, $1, $2, $3)', [
    id,
    priceCents,
    'usd',
  ]);
  await db.query('INSERT INTO inventory (product_id, quantity) VALUES ($1, $2)', [id, stock]);
  return id;
}

export async function inventoryOf(db: Client, productId: string): Promise<number> {
  const { rows } = await db.query<{ quantity: number }>('SELECT quantity FROM inventory WHERE product_id = $1', [
    productId,
  ]);
  return rows[0]?.quantity ?? NaN;
}

export const orderBody = (productId: string, quantity = 1, paymentMethodId = 'pm_card_visa') => ({
  customerId: 'cus_system',
  paymentMethodId,
  items: [{ productId, quantity }],
});
