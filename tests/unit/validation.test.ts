import { z } from 'zod';
import { IdempotencyKeyRequiredError, InvalidRequestError } from '../../lib/errors';
import { idempotencyKeyFrom, parseOrThrow } from '../../lib/validation';

/** The error `run` throws (fails the test when it throws none). */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('parseOrThrow', () => {
  const schema = z.object({
    a: z.object({ b: z.array(z.object({ c: z.string({ error: 'c must be a string' }) })) }),
    n: z.number().optional(),
  });

  test('returns what the schema parsed', () => {
    expect(parseOrThrow(schema, { a: { b: [{ c: 'x' }] }, n: 1 })).toEqual({ a: { b: [{ c: 'x' }] }, n: 1 });
  });

  test('names the offending field as a path (dots for keys, brackets for indexes) in the field and the message', () => {
    const error = thrownBy(() => parseOrThrow(schema, { a: { b: [{ c: 'x' }, { c: 'y' }, { c: 3 }] } }));

    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({
      code: 'invalid_request',
      status: 400,
      message: 'a.b[2].c: c must be a string',
      details: { field: 'a.b[2].c' },
    });
  });

  test('a problem with the body as a whole is on the field "body"', () => {
    expect(thrownBy(() => parseOrThrow(schema, 'text'))).toMatchObject({
      message: 'body: Invalid input: expected object, received string',
      details: { field: 'body' },
    });
  });

  test('names only the first problem', () => {
    const error = thrownBy(() => parseOrThrow(schema, { a: { b: [{ c: 1 }] }, n: 'x' }));

    expect(error).toMatchObject({ details: { field: 'a.b[0].c' } });
  });
});

describe('idempotencyKeyFrom (the Idempotency-Key header, read after header normalisation)', () => {
  test.each([
    ['a UUID', '3f7c2a9e-1b4d-4c8e-9f2a-6d5b4c3a2e10'],
    ['one character', 'k'],
    ['255 characters', 'k'.repeat(255)],
    ['the visible ASCII range from ! to ~', '!"#$%&\'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~'],
  ])('accepts %s', (_, key) => {
    expect(idempotencyKeyFrom({ 'idempotency-key': key }, true)).toBe(key);
    expect(idempotencyKeyFrom({ 'idempotency-key': key }, false)).toBe(key);
  });

  test.each([
    ['missing', {}],
    ['empty', { 'idempotency-key': '' }],
  ])('%s where required (POST /orders): idempotency_key_required (400) on Idempotency-Key', (_, headers) => {
    const error = thrownBy(() => idempotencyKeyFrom(headers, true));

    expect(error).toBeInstanceOf(IdempotencyKeyRequiredError);
    expect(error).toMatchObject({
      code: 'idempotency_key_required',
      status: 400,
      message: 'the Idempotency-Key header is required',
      details: { field: 'Idempotency-Key' },
    });
  });

  test.each([
    ['missing', {}],
    ['empty', { 'idempotency-key': '' }],
  ])('%s where optional (refunds): no key', (_, headers) => {
    expect(idempotencyKeyFrom(headers, false)).toBeUndefined();
  });

  test.each([
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'my key'],
    ['a tab', 'my\tkey'],
    ['a newline (header injection)', 'key\r\nX-Admin: 1'],
    ['a non-ASCII letter', 'clé'],
    ['DEL (0x7f)', 'key\x7f'],
  ])('refuses a key with %s: invalid_request (400) on Idempotency-Key, required or not', (_, key) => {
    for (const required of [true, false]) {
      const error = thrownBy(() => idempotencyKeyFrom({ 'idempotency-key': key }, required));

      expect(error).toBeInstanceOf(InvalidRequestError);
      expect(error).toMatchObject({
        code: 'invalid_request',
        status: 400,
        message: 'Idempotency-Key must be 1-255 visible ASCII characters',
        details: { field: 'Idempotency-Key' },
      });
    }
  });
});
