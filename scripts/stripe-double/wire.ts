/** What the double reads and writes on the wire: Stripe's form bodies, ids and JSON answers. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Json = Record<string, unknown>;

/** An answer a route gives: sent as JSON with a Request-Id, as Stripe does. */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
export const now = () => Math.floor(Date.now() / 1000);

/** Stripe's form encoding: a[b][c]=v and a[0]=v into nested objects and arrays. */
export function parseForm(body: string): Json {
  const out: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const path = rawKey.replace(/\]/g, '').split('[');
    let node: Record<string, unknown> = out;
    path.forEach((segment, i) => {
      if (i === path.length - 1) node[segment] = value;
      else {
        node[segment] ??= {};
        node = node[segment] as Record<string, unknown>;
      }
    });
  }
  return out;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function send(res: ServerResponse, answer: Answer): void {
  res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Request-Id': id('req'), ...answer.headers });
  res.end(JSON.stringify(answer.body));
}

/** Stripe's error envelope, as the API sends it for errors raised outside an object's own checks. */
export function stripeError(status: number, error: Json): Answer {
  return { status, body: { error: { request_log_url: null, ...error } } };
}

/** `invalid_request_error` with a code and the offending parameter: Stripe's answer to a bad request. */
export function invalidRequest(status: number, code: string, param: string | undefined, message: string): Answer {
  return { status, body: { error: { type: 'invalid_request_error', code, ...(param ? { param } : {}), message } } };
}
