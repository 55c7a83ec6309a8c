import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { MiddlewareObj } from '@middy/core';
import type { Db } from './db';
import type { Logger } from './log';
import type { RedisClient } from './redis';

/**
 * Powertools for AWS Lambda: structured logs (Logger: the request id, cold start, function name on
 * every line), CloudWatch metrics in the embedded metric format (Metrics), and X-Ray traces (Tracer:
 * the handler, and the Stripe, PostgreSQL and Redis calls as subsegments). One of each per Lambda
 * container, made on first use. Settings are Powertools' own environment variables
 * (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_TRACE_ENABLED, ...), set in serverless.yml;
 * tracing is off locally.
 */
export const SERVICE_NAME = 'order-service';
export const METRICS_NAMESPACE = 'OrderService';

/** The metrics the service emits (README, "Metrics and alarms"). */
export type MetricName =
  | 'OrdersPlaced'
  | 'OrdersPaid'
  | 'OrdersPending'
  | 'OrdersDeclined'
  | 'OrdersOutOfStock'
  | 'OrdersCanceled'
  | 'RefundsFailed'
  | 'WebhookDelay'
  | 'StripeLatency';

/** The metrics port lib code emits through (deps.metrics); tests pass a recording one. */
export interface AppMetrics {
  count(name: MetricName, value?: number): void;
  seconds(name: MetricName, value: number): void;
  milliseconds(name: MetricName, value: number): void;
}

let logger: PowertoolsLogger | undefined;
let metrics: Metrics | undefined;
let tracer: Tracer | undefined;

export const powertoolsLogger = () => (logger ??= new PowertoolsLogger({ serviceName: SERVICE_NAME }));
export const powertoolsMetrics = () =>
  (metrics ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }));
/**
 * The Tracer, only where tracing is on (POWERTOOLS_TRACE_ENABLED=true): loading it loads the X-Ray
 * SDK, which costs a cold start about 10 ms and is not needed with tracing off (the bundle keeps it
 * for the stages that trace; esbuild runs a module only when it is first required).
 */
export function powertoolsTracer(): Tracer | undefined {
  if (process.env.POWERTOOLS_TRACE_ENABLED !== 'true') return undefined;
  if (!tracer) {
    const { Tracer: PowertoolsTracer } =
      require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer');
    tracer = new PowertoolsTracer({ serviceName: SERVICE_NAME });
  }
  return tracer;
}

/** Our Logger port over a Powertools Logger: every field goes on the line as a key. */
export function loggerOver(pt: PowertoolsLogger): Logger {
  return {
    info: (message, fields) => pt.info(message, fields ?? {}),
    error: (message, fields) => pt.error(message, fields ?? {}),
    child: (fields) => loggerOver(pt.createChild({ persistentKeys: fields as Record<string, string> })),
  };
}

/** Our metrics port over Powertools Metrics (flushed as EMF at the end of each invocation). */
export function metricsOver(m: Metrics): AppMetrics {
  return {
    count: (name, value = 1) => m.addMetric(name, MetricUnit.Count, value),
    seconds: (name, value) => m.addMetric(name, MetricUnit.Seconds, value),
    milliseconds: (name, value) => m.addMetric(name, MetricUnit.Milliseconds, value),
  };
}

/**
 * The Powertools middlewares every handler starts with: the Lambda context and cold start on each
 * log line, metrics flushed (with a ColdStart metric), the invocation traced.
 */
export function observed(): MiddlewareObj[] {
  const middlewares = [
    injectLambdaContext(powertoolsLogger(), { resetKeys: true }),
    logMetrics(powertoolsMetrics(), { captureColdStartMetric: true }),
  ] as MiddlewareObj[];
  const t = powertoolsTracer();
  if (t) {
    const { captureLambdaHandler } =
      require('@aws-lambda-powertools/tracer/middleware') as typeof import('@aws-lambda-powertools/tracer/middleware');
    middlewares.push(captureLambdaHandler(t, { captureResponse: false }) as MiddlewareObj);
  }
  return middlewares;
}

/**
 * Runs `work` in an X-Ray subsegment `name` when tracing is on and there is a segment (a Lambda
 * invocation); otherwise just runs it. Never records arguments or results (no SQL values, no bodies).
 */
export async function inSubsegment<T>(name: string, work: () => Promise<T>): Promise<T> {
  const t = tracer;
  if (!t?.isTracingEnabled()) return work();
  const parent = t.getSegment();
  if (!parent) return work();
  // Not made the current segment: commands of one pipeline run side by side, each its own subsegment.
  const sub = parent.addNewSubsegment(name);
  try {
    return await work();
  } catch (error) {
    sub.addError(error as Error);
    throw error;
  } finally {
    sub.close();
  }
}

/** The Db with each query and each transaction in a `PostgreSQL` subsegment (the SQL text, never its values). */
export function tracedDb<D extends Db>(db: D): D {
  return Object.assign(Object.create(db) as D, {
    query: (text: string, params?: unknown[]) => inSubsegment('PostgreSQL', () => db.query(text, params)),
    transaction: <T>(work: (tx: Db) => Promise<T>) =>
      inSubsegment('PostgreSQL transaction', () => db.transaction(work)),
  });
}

/** Each Redis command (scripts included) in a `Redis` subsegment. */
export function tracedRedis(redis: RedisClient): RedisClient {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Parameters<RedisClient['sendCommand']>[0], stream?: unknown) => {
    if (tracer?.isTracingEnabled() && tracer.getSegment()) {
      void inSubsegment(`Redis ${command.name}`, () => command.promise).catch(() => undefined);
    }
    return send(command, stream as never);
  }) as RedisClient['sendCommand'];
  return redis;
}
