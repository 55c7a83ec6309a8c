import { ConfigError, readConfig, stripeSecretKey, stripeWebhookSecrets } from '../../lib/config';
import { redisDbIndex, testEnvironment } from '../../scripts/test-environment';

/** The message readConfig throws for `env` (fails the test when it throws none). */
function problemWith(env: NodeJS.ProcessEnv): string {
  try {
    readConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError, none was thrown');
}

describe('readConfig', () => {
  test('with nothing set, every default', () => {
    expect(readConfig({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/orders',
      redisUrl: 'redis://127.0.0.1:6379/0',
      stripeApiBase: undefined,
      reservationTtlSeconds: 900,
      idempotencyTtlSeconds: 86_400,
      dbPoolMax: 2,
      dbPreparedStatements: true,
      requestLockSeconds: 60,
      stripeTimeoutMs: 10_000,
      pendingOrderTimeoutSeconds: 900,
      eventBusName: 'default',
      eventsLogOnly: false,
    });
  });

  test('an empty variable is the same as an unset one (a blank line in an .env file)', () => {
    expect(
      readConfig({
        DATABASE_URL: '',
        REDIS_URL: '',
        RESERVATION_TTL_SECONDS: '',
        DB_PREPARED_STATEMENTS: '',
        STRIPE_API_BASE: '',
      }),
    ).toEqual(readConfig({}));
  });

  test('reads every variable that is set', () => {
    const config = readConfig({
      DATABASE_URL: 'postgres://app@db.internal:5432/shop',
      REDIS_URL: 'redis://cache.internal:6379/3',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      RESERVATION_TTL_SECONDS: '60',
      IDEMPOTENCY_TTL_SECONDS: '3600',
      DB_POOL_MAX: '5',
      DB_PREPARED_STATEMENTS: 'false',
      REQUEST_LOCK_SECONDS: '45',
      STRIPE_TIMEOUT_MS: '2500',
      PENDING_ORDER_TIMEOUT_SECONDS: '120',
      EVENT_BUS_NAME: 'shop-events',
      EVENTS_LOG_ONLY: 'true',
    });

    expect(config).toEqual({
      databaseUrl: 'postgres://app@db.internal:5432/shop',
      redisUrl: 'redis://cache.internal:6379/3',
      stripeApiBase: new URL('http://127.0.0.1:12111'),
      reservationTtlSeconds: 60,
      idempotencyTtlSeconds: 3600,
      dbPoolMax: 5,
      dbPreparedStatements: false,
      requestLockSeconds: 45,
      stripeTimeoutMs: 2500,
      pendingOrderTimeoutSeconds: 120,
      eventBusName: 'shop-events',
      eventsLogOnly: true,
    });
    expect(config.stripeApiBase).toMatchObject({ protocol: 'http:', hostname: '127.0.0.1', port: '12111' });
  });

  test.each([
    'RESERVATION_TTL_SECONDS',
    'IDEMPOTENCY_TTL_SECONDS',
    'DB_POOL_MAX',
    'REQUEST_LOCK_SECONDS',
    'STRIPE_TIMEOUT_MS',
    'PENDING_ORDER_TIMEOUT_SECONDS',
  ])('%s must be a positive integer', (name) => {
    for (const raw of ['0', '-1', '1.5', '1e3', 'abc', ' 60', '60s', '0x10', '9007199254740993']) {
      expect(problemWith({ [name]: raw })).toBe(
        `invalid configuration: ${name} must be a positive integer (got "${raw}")`,
      );
    }
    expect(readConfig({ [name]: '1' })).toBeDefined();
    expect(readConfig({ [name]: '9007199254740991' })).toBeDefined();
  });

  test.each(['yes', 'no', 'TRUE', '1', '0', 'False'])('DB_PREPARED_STATEMENTS must be true or false, not %s', (raw) => {
    expect(problemWith({ DB_PREPARED_STATEMENTS: raw })).toBe(
      `invalid configuration: DB_PREPARED_STATEMENTS must be true or false (got "${raw}")`,
    );
  });

  test.each(['yes', 'TRUE', '1', 'local'])('EVENTS_LOG_ONLY must be true or false, not %s', (raw) => {
    expect(problemWith({ EVENTS_LOG_ONLY: raw })).toBe(
      `invalid configuration: EVENTS_LOG_ONLY must be true or false (got "${raw}")`,
    );
  });

  test.each(['127.0.0.1:12111', 'not a url', '//host'])('STRIPE_API_BASE must be a URL, not %s', (raw) => {
    expect(problemWith({ STRIPE_API_BASE: raw })).toBe(
      `invalid configuration: STRIPE_API_BASE must be a URL (got "${raw}")`,
    );
  });

  test('names every problem in one error, in the order of the table', () => {
    expect(
      problemWith({
        STRIPE_API_BASE: 'nope',
        RESERVATION_TTL_SECONDS: '0',
        DB_PREPARED_STATEMENTS: 'maybe',
        STRIPE_TIMEOUT_MS: 'soon',
      }),
    ).toBe(
      'invalid configuration: STRIPE_API_BASE must be a URL (got "nope"); RESERVATION_TTL_SECONDS must be a positive integer (got "0"); ' +
        'DB_PREPARED_STATEMENTS must be true or false (got "maybe"); STRIPE_TIMEOUT_MS must be a positive integer (got "soon")',
    );
  });

  test('never reads a secret: STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are not looked at', () => {
    const read: string[] = [];
    const env = new Proxy({} as NodeJS.ProcessEnv, {
      get: (target, name) => {
        if (typeof name === 'string') read.push(name);
        return Reflect.get(target, name);
      },
    });

    readConfig(env);

    expect(read).not.toContain('STRIPE_SECRET_KEY');
    expect(read).not.toContain('STRIPE_WEBHOOK_SECRET');
    expect(read).toContain('DATABASE_URL');
  });
});

describe('secrets, read only when needed', () => {
  test('stripeSecretKey returns the key, and without one says what is missing', () => {
    expect(stripeSecretKey({ STRIPE_SECRET_KEY: 'sk_test_123' })).toBe('sk_test_123');
    for (const env of [{}, { STRIPE_SECRET_KEY: '' }]) {
      expect(() => stripeSecretKey(env)).toThrow(ConfigError);
      expect(() => stripeSecretKey(env)).toThrow('invalid configuration: STRIPE_SECRET_KEY is required to call Stripe');
    }
  });

  test('stripeWebhookSecrets splits a comma-separated list for rotation, trimming blanks', () => {
    expect(stripeWebhookSecrets({ STRIPE_WEBHOOK_SECRET: 'whsec_new' })).toEqual(['whsec_new']);
    expect(stripeWebhookSecrets({ STRIPE_WEBHOOK_SECRET: ' whsec_new , whsec_old ,' })).toEqual([
      'whsec_new',
      'whsec_old',
    ]);
  });

  test.each([{}, { STRIPE_WEBHOOK_SECRET: '' }, { STRIPE_WEBHOOK_SECRET: ' , ' }])(
    'stripeWebhookSecrets without a secret (%j) is a ConfigError',
    (env) => {
      expect(() => stripeWebhookSecrets(env)).toThrow(ConfigError);
      expect(() => stripeWebhookSecrets(env)).toThrow(
        'invalid configuration: STRIPE_WEBHOOK_SECRET is required for webhooks',
      );
    },
  );
});

describe('test environment', () => {
  test('defaults to its own database and Redis DB 15, never the service defaults', () => {
    expect(testEnvironment({})).toEqual({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/orders_test',
      redisUrl: 'redis://127.0.0.1:6379/15',
    });
    expect(testEnvironment({ TEST_DATABASE_URL: 'postgres://x/y', TEST_REDIS_URL: 'redis://h:1/4' })).toEqual({
      databaseUrl: 'postgres://x/y',
      redisUrl: 'redis://h:1/4',
    });
  });

  test.each([
    ['redis://127.0.0.1:6379/15', 15],
    ['redis://127.0.0.1:6379/0', 0],
    ['redis://127.0.0.1:6379', 0],
    ['redis://127.0.0.1:6379/', 0],
  ])('redisDbIndex(%s) is %d', (url, index) => {
    expect(redisDbIndex(url)).toBe(index);
  });
});
