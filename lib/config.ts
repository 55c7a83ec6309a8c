/**
 * The one reader of process.env. Everything is validated once, on first use, and every problem is
 * named in a single error. Secrets are separate getters so that nothing reads them before they are
 * needed: a test can prove STRIPE_SECRET_KEY was never touched.
 */
export interface Config {
  databaseUrl: string;
  redisUrl: string;
  stripeApiBase: URL | undefined;
  reservationTtlSeconds: number;
  idempotencyTtlSeconds: number;
  /** PostgreSQL connections per Lambda container: one request at a time needs one, two absorbs a stray. */
  dbPoolMax: number;
  /**
   * Name each statement so PostgreSQL plans it once per connection. Turn off behind RDS Proxy (a
   * named statement pins the client to one database connection, which defeats the proxy).
   */
  dbPreparedStatements: boolean;
  /**
   * How long a request owns its idempotency key and its order. Longer than API Gateway lets a Lambda
   * run (29 s), so a live request never loses them; a crashed one's work can be resumed after it.
   */
  requestLockSeconds: number;
  /** Per Stripe request. A confirm with 3-D Secure checks can take seconds; 10 s leaves room for a retry. */
  stripeTimeoutMs: number;
  /** How long an order may stay `pending` before the scheduled function (expireOrders) settles or cancels it. */
  pendingOrderTimeoutSeconds: number;
  /** The EventBridge bus the outbox publishes to. */
  eventBusName: string;
  /** Log each outbox event (one JSON line) instead of sending it to EventBridge: `npm run dev`, no AWS. */
  eventsLogOnly: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/orders',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  RESERVATION_TTL_SECONDS: '900',
  IDEMPOTENCY_TTL_SECONDS: '86400',
  DB_POOL_MAX: '2',
  DB_PREPARED_STATEMENTS: 'true',
  REQUEST_LOCK_SECONDS: '60',
  STRIPE_TIMEOUT_MS: '10000',
  PENDING_ORDER_TIMEOUT_SECONDS: '900',
  EVENT_BUS_NAME: 'default',
  EVENTS_LOG_ONLY: 'false',
} as const;

function positiveInt(name: string, raw: string, problems: string[]): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value <= 0) {
    problems.push(`${name} must be a positive integer (got "${raw}")`);
  }
  return value;
}

function bool(name: string, raw: string, problems: string[]): boolean {
  if (raw !== 'true' && raw !== 'false') problems.push(`${name} must be true or false (got "${raw}")`);
  return raw === 'true';
}

function url(name: string, raw: string, problems: string[]): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    problems.push(`${name} must be a URL (got "${raw}")`);
    return undefined;
  }
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const get = (name: keyof typeof DEFAULTS) => env[name] || DEFAULTS[name];
  const config: Config = {
    databaseUrl: get('DATABASE_URL'),
    redisUrl: get('REDIS_URL'),
    stripeApiBase: env.STRIPE_API_BASE ? url('STRIPE_API_BASE', env.STRIPE_API_BASE, problems) : undefined,
    reservationTtlSeconds: positiveInt('RESERVATION_TTL_SECONDS', get('RESERVATION_TTL_SECONDS'), problems),
    idempotencyTtlSeconds: positiveInt('IDEMPOTENCY_TTL_SECONDS', get('IDEMPOTENCY_TTL_SECONDS'), problems),
    dbPoolMax: positiveInt('DB_POOL_MAX', get('DB_POOL_MAX'), problems),
    dbPreparedStatements: bool('DB_PREPARED_STATEMENTS', get('DB_PREPARED_STATEMENTS'), problems),
    requestLockSeconds: positiveInt('REQUEST_LOCK_SECONDS', get('REQUEST_LOCK_SECONDS'), problems),
    stripeTimeoutMs: positiveInt('STRIPE_TIMEOUT_MS', get('STRIPE_TIMEOUT_MS'), problems),
    pendingOrderTimeoutSeconds: positiveInt(
      'PENDING_ORDER_TIMEOUT_SECONDS',
      get('PENDING_ORDER_TIMEOUT_SECONDS'),
      problems,
    ),
    eventBusName: get('EVENT_BUS_NAME'),
    eventsLogOnly: bool('EVENTS_LOG_ONLY', get('EVENTS_LOG_ONLY'), problems),
  };
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return config;
}

let cached: Config | undefined;
export function config(): Config {
  cached ??= readConfig();
  return cached;
}

/** Read only when the real Stripe client is first built. */
export function stripeSecretKey(env: NodeJS.ProcessEnv = process.env): string {
  const key = env.STRIPE_SECRET_KEY;
  if (!key) throw new ConfigError('invalid configuration: STRIPE_SECRET_KEY is required to call Stripe');
  return key;
}

/** `whsec_...`, or several separated by commas while a secret is being rotated. */
export function stripeWebhookSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const secrets = (env.STRIPE_WEBHOOK_SECRET ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (secrets.length === 0)
    throw new ConfigError('invalid configuration: STRIPE_WEBHOOK_SECRET is required for webhooks');
  return secrets;
}
