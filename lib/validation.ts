import type { z } from 'zod';
import { IdempotencyKeyRequiredError, InvalidRequestError } from './errors';

/** Parses `input` with `schema`, or throws invalid_request naming the first offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue
    ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('')
    : '';
  throw new InvalidRequestError(issue ? `${field || 'body'}: ${issue.message}` : 'invalid request', {
    field: field || 'body',
  });
}

/** 1-255 visible ASCII characters (contract). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function idempotencyKeyFrom(headers: Record<string, string | undefined>, required: boolean): string | undefined {
  const key = headers['idempotency-key'];
  if (key === undefined || key === '') {
    if (required) throw new IdempotencyKeyRequiredError();
    return undefined;
  }
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new InvalidRequestError('Idempotency-Key must be 1-255 visible ASCII characters', {
      field: 'Idempotency-Key',
    });
  }
  return key;
}
