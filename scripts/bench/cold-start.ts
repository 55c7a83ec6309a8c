/** Cold start per function: a fresh process (cold-start-child.ts) loads its bundle and serves one request. */

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { FunctionName } from './build';

export interface ColdStart {
  loadMs: number;
  firstMs: number;
  status: number;
}

/** The first request each function gets: a real one for create-order, cheap refusals for the others. */
function firstEvent(fn: FunctionName): APIGatewayProxyEventV2 {
  const now = Date.now();
  const [method, rawPath] =
    fn === 'create-order'
      ? ['POST', '/orders']
      : fn === 'stripe-webhook'
        ? ['POST', '/webhooks/stripe']
        : fn === 'refund'
          ? ['POST', `/orders/${randomUUID()}/refunds`]
          : ['GET', `/orders/${randomUUID()}`];
  const base: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: `${method} ${rawPath}`,
    rawPath,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: 'cold',
      routeKey: `${method} ${rawPath}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
  };
  if (fn === 'create-order') {
    return {
      ...base,
      headers: { 'idempotency-key': randomUUID(), 'content-type': 'application/json' },
      body: JSON.stringify({
        customerId: 'c',
        paymentMethodId: 'pm_card_visa',
        items: [{ productId: 'sku_bench_hot', quantity: 1 }],
      }),
    };
  }
  if (fn === 'stripe-webhook') return { ...base, headers: { 'stripe-signature': 't=1,v1=x' }, body: '{}' };
  const orderId = rawPath.split('/')[2] as string;
  return { ...base, pathParameters: { orderId }, ...(fn === 'refund' ? { body: '{}' } : {}) };
}

export function coldStart(child: string, bundle: string, fn: FunctionName, env: NodeJS.ProcessEnv): Promise<ColdStart> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, bundle, JSON.stringify(firstEvent(fn))], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.on('exit', () => {
      try {
        // The last line: the function's own log lines come before it.
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as ColdStart);
      } catch {
        reject(new Error(`cold start of ${fn} failed: ${out}`));
      }
    });
  });
}
