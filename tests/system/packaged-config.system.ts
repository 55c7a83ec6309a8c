import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../scripts/local-stack';

/**
 * Every setting the service reads (lib/config.ts) reaches every packaged function: set each to a
 * value that is not its default in the deploying shell, run `serverless package` (no AWS
 * credentials needed), and read the functions' environment from the CloudFormation template.
 */
const SETTINGS: Record<string, string> = {
  DATABASE_URL: 'postgres://deploy-check@db.internal:5432/orders',
  REDIS_URL: 'redis://cache.internal:6379/3',
  STRIPE_API_BASE: 'http://stripe.internal:12111',
  RESERVATION_TTL_SECONDS: '321',
  IDEMPOTENCY_TTL_SECONDS: '4321',
  DB_POOL_MAX: '3',
  DB_PREPARED_STATEMENTS: 'false',
  REQUEST_LOCK_SECONDS: '45',
  STRIPE_TIMEOUT_MS: '7000',
  PENDING_ORDER_TIMEOUT_SECONDS: '600',
  EVENT_BUS_NAME: 'shop-events',
  EVENTS_LOG_ONLY: 'true',
};

interface Template {
  Resources: Record<
    string,
    { Type: string; Properties: { FunctionName?: string; Environment?: { Variables?: Record<string, unknown> } } }
  >;
}

test('serverless package gives every function every configuration setting from the environment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'packaged-config-'));
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...SETTINGS,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
    };
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_PROFILE']) delete env[name];
    const run = spawnSync('npx', ['serverless', 'package', '--package', dir], { cwd: ROOT, env, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({ status: 0, stderr: '' });

    const template = JSON.parse(
      readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as Template;
    const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    expect(functions.map(([name]) => name).sort()).toEqual([
      'AdjustStockLambdaFunction',
      'CancelOrderLambdaFunction',
      'CreateOrderLambdaFunction',
      'ExpireOrdersLambdaFunction',
      'GetOrderLambdaFunction',
      'GetStockLambdaFunction',
      'ListOrdersLambdaFunction',
      'PublishEventsLambdaFunction',
      'RefundLambdaFunction',
      'StripeWebhookLambdaFunction',
    ]);
    for (const [name, fn] of functions) {
      expect({ name, env: fn.Properties.Environment?.Variables }).toEqual({
        name,
        env: expect.objectContaining(SETTINGS),
      });
    }
    // The alarms (infra/alarms.yml), each notifying the alarm topic; their metric references resolve.
    const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.map(([name]) => name).sort()).toEqual([
      'Api5xxRateAlarm',
      'LambdaErrorsAlarm',
      'LambdaThrottlesAlarm',
      'RefundsFailedAlarm',
      'ScheduledFunctionsFailingAlarm',
    ]);
    for (const [, alarm] of alarms) {
      expect((alarm.Properties as { AlarmActions?: unknown }).AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
    }
    const refs = [...JSON.stringify(template.Resources).matchAll(/"Ref":"([A-Za-z0-9]+)"/g)].map((m) => m[1] as string);
    expect(refs.filter((ref) => !ref.startsWith('AWS::') && !(ref in template.Resources))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
