import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyResult, Context } from 'aws-lambda';

/** An API Gateway HTTP API (payload 2.0) event, as the Lambda receives it. */
export function apiGatewayEvent(o: {
  method: string;
  path: string;
  routeKey?: string;
  headers?: Record<string, string>;
  body?: unknown;
  rawBody?: string;
  isBase64Encoded?: boolean;
  pathParameters?: Record<string, string>;
}): APIGatewayProxyEventV2 {
  const body = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  return {
    version: '2.0',
    routeKey: o.routeKey ?? `${o.method} ${o.path}`,
    rawPath: o.path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...o.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: o.method, path: o.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
      requestId: randomUUID(),
      routeKey: o.routeKey ?? `${o.method} ${o.path}`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    pathParameters: o.pathParameters,
    body,
    isBase64Encoded: o.isBase64Encoded ?? false,
  };
}

export function lambdaContext(): Context {
  return {
    awsRequestId: randomUUID(),
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:test',
    memoryLimitInMB: '256',
    logGroupName: '/aws/lambda/test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 29_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export interface Response {
  statusCode: number;
  headers: Record<string, string>;
  /** Parsed JSON: tests read any field of it (biome.json lets tests use `any`). */
  body: any;
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>;

/** Invokes a handler as Lambda would and parses its JSON body. */
export async function invoke(handler: Handler, event: APIGatewayProxyEventV2): Promise<Response> {
  const result = (await handler(event, lambdaContext())) as APIGatewayProxyResult;
  return {
    statusCode: result.statusCode,
    headers: (result.headers ?? {}) as Record<string, string>,
    body: result.body ? JSON.parse(result.body) : undefined,
  };
}
